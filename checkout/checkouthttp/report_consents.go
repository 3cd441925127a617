package checkouthttp

import (
	"time"

	"github.com/livedrop/livedrop/internal/kpi"
)

// ConsentCounts are the report's "new emails with consent" over its
// window: the total, and split by the channel and the region of the
// sign-in that gave each consent (buyer.Counts).
type ConsentCounts struct {
	Total     int
	ByChannel map[string]int
	ByRegion  map[string]int
}

// addConsents puts c into rep's figures: the total, and each channel's and
// region's (a channel or region with consents but no views or sales gets
// a row of its own, zero but for its consents).
func addConsents(rep *Report, c ConsentCounts, from, to time.Time) {
	rep.Total.NewConsents = c.Total
	for _, split := range []struct {
		m map[string]kpi.Figures
		n map[string]int
	}{{rep.ByChannel, c.ByChannel}, {rep.ByRegion, c.ByRegion}} {
		for k, n := range split.n {
			f, ok := split.m[k]
			if !ok {
				f = kpi.Figures{From: from, To: to}
			}
			f.NewConsents = n
			split.m[k] = f
		}
	}
}
