package buyer

import (
	"context"
	"time"

	"github.com/livedrop/livedrop/internal/kpi"
)

// Origin is where a sign-in came from: the channel the viewer carries (the
// watch page's ?ch= or utm_source, kpi.Channel form) and the region of the
// edge that signed them in. The record keeps the origin of the sign-in
// that first gave marketing consent, so the consent KPI splits like the
// sales.
type Origin struct {
	Channel string `json:"channel,omitempty"`
	Region  string `json:"region,omitempty"`
}

// originOf is o as a record keeps it: the channel a valid token or
// kpi.Direct.
func originOf(o Origin) Origin { return Origin{Channel: kpi.Channel(o.Channel), Region: o.Region} }

// signedInFrom is the part of a Store that signedIn calls.
type signedInFrom interface {
	SignedInFrom(ctx context.Context, email, newID string, marketing bool, from Origin, at time.Time) (Record, error)
}

// signedIn is each store's SignedIn: a sign-in from no known origin.
func signedIn(ctx context.Context, s signedInFrom, email, newID string, marketing bool, at time.Time) (Record, error) {
	return s.SignedInFrom(ctx, email, newID, marketing, Origin{}, at)
}

// tally adds one counted consent of origin o to c's splits.
func (c *Counts) tally(o Origin) {
	if c.ConsentsByChannel == nil {
		c.ConsentsByChannel, c.ConsentsByRegion = map[string]int{}, map[string]int{}
	}
	c.ConsentsByChannel[kpi.Channel(o.Channel)]++
	c.ConsentsByRegion[o.Region]++
}
