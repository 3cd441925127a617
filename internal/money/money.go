// Package money knows how amounts are kept: integers in a currency's
// minor units (cents of EUR, yen, fils of BHD), as ISO 4217 defines them.
// The viewer page's formatter (webui player.js) holds the same table.
package money

import "math"

// minorDigits are the ISO 4217 minor units other than 2.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// MinorDigits returns how many decimal digits the currency's minor unit has.
func MinorDigits(currency string) int {
	if d, ok := minorDigits[currency]; ok {
		return d
	}
	return 2
}

// NotTwoDigits returns the currencies whose minor unit is not 2 digits,
// with their digits (a copy: the viewer page's table is tested against it).
func NotTwoDigits() map[string]int {
	out := make(map[string]int, len(minorDigits))
	for c, d := range minorDigits {
		out[c] = d
	}
	return out
}

// Convert turns an amount in from's minor units into to's, at rate units of
// to per unit of from, rounded to the nearest minor unit.
func Convert(amount int64, from, to string, rate float64) float64 {
	return math.Round(float64(amount) * rate * math.Pow10(MinorDigits(to)-MinorDigits(from)))
}
