package money

import "testing"

func TestConvert(t *testing.T) {
	tests := []struct {
		amount   int64
		from, to string
		rate     float64
		want     float64
	}{
		{2500, "EUR", "USD", 1.08, 2700}, // €25.00 -> $27.00
		{2500, "EUR", "JPY", 160, 4000},  // €25.00 -> ¥4,000, not ¥400,000
		{4000, "JPY", "EUR", 1.0 / 160, 2500},
		{2500, "EUR", "BHD", 0.41, 10250},   // €25.00 -> BHD 10.250
		{1999, "USD", "KRW", 1350.5, 26996}, // $19.99 * 1350.5 = ₩26,996.495
	}
	for _, tt := range tests {
		if got := Convert(tt.amount, tt.from, tt.to, tt.rate); got != tt.want {
			t.Errorf("Convert(%d %s -> %s at %v) = %v, want %v", tt.amount, tt.from, tt.to, tt.rate, got, tt.want)
		}
	}
	if MinorDigits("EUR") != 2 || MinorDigits("JPY") != 0 || MinorDigits("KWD") != 3 {
		t.Fatal("minor digits")
	}
}
