package checkout

import (
	"strings"
	"testing"
)

// Limit keys hash device ids and addresses (the store never holds them in
// the clear), differ by kind and subject, and cost one allocation.
func TestLimitKeys(t *testing.T) {
	for _, c := range []struct{ kind, subj string }{{KindDevice, "phone-1"}, {KindIP, "2001:db8::/64"}, {KindIP, "198.51.100.7"}} {
		k := LimitKey(c.kind, c.subj)
		if len(k) != 26 || k[1] != ':' || kindOfKey(k) != c.kind {
			t.Fatalf("LimitKey(%s, %s) = %q", c.kind, c.subj, k)
		}
	}
	if k := LimitKey(KindBuyer, "alice"); k != "b:alice" {
		t.Fatalf("buyer key %q", k)
	}
	if LimitKey(KindDevice, "x") == LimitKey(KindIP, "x") || LimitKey(KindDevice, "x") == LimitKey(KindDevice, "y") ||
		LimitKey(KindDevice, "x") != LimitKey(KindDevice, "x") {
		t.Fatal("keys must differ by kind and subject, and be stable")
	}
	if n := testing.AllocsPerRun(100, func() { _ = LimitKey(KindIP, "198.51.100.7") }); n > 1 {
		t.Fatalf("LimitKey allocates %v times", n)
	}
}

// A SKU's limits are checked with the key named; a per-IP limit may be as
// large as the stock (a venue's Wi-Fi), a per-buyer one at most MaxQty.
func TestSKULimitsValidate(t *testing.T) {
	cases := []struct {
		mut  func(*SKU)
		want string // "" = valid
	}{
		{func(k *SKU) { k.MaxPerIP = 50_000 }, ""},
		{func(k *SKU) { k.MaxPerDevice = 3 }, ""},
		{func(k *SKU) { k.MaxPerIP = -1 }, "skus[0].max_per_ip"},
		{func(k *SKU) { k.MaxPerDevice = MaxStock + 1 }, "skus[0].max_per_device"},
		{func(k *SKU) { k.MaxPerBuyer = MaxQty + 1 }, "skus[0].max_per_buyer"},
	}
	for _, tc := range cases {
		d := testDrop("v", 100, 0)
		tc.mut(&d.SKUs[0])
		err := d.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
}
