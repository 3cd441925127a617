package checkout

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// controlRSVP is the seller's side of RSVP drops: it issues batches of
// signed tokens over reserved units and, in the reap loop, returns the
// units of batches whose deadline passed.
type controlRSVP struct {
	keys     *RSVPKeys // nil: RSVPs are not configured
	now      func() time.Time
	reserved prometheus.Counter
	returned prometheus.Counter
}

func newControlRSVP(p ControlParams) (*controlRSVP, error) {
	now := p.Now
	if now == nil {
		now = time.Now
	}
	r := &controlRSVP{keys: p.RSVP, now: now,
		reserved: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_checkout_rsvp_units_reserved_total",
			Help: "Units moved from free stock into RSVP batches (one token each)."}),
		returned: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_checkout_rsvp_returned_units_total",
			Help: "Reserved units returned to free stock because their RSVP batch's deadline passed unredeemed."}),
	}
	for _, col := range []prometheus.Collector{r.reserved, r.returned} {
		if err := p.Registerer.Register(col); err != nil {
			return nil, fmt.Errorf("checkout control metrics: %w", err)
		}
	}
	return r, nil
}

// RSVPBatch is an issued batch: one token per reserved unit.
type RSVPBatch struct {
	Drop     string      `json:"drop"`
	Stream   string      `json:"stream"`
	SKU      string      `json:"sku"`
	Batch    string      `json:"batch"`
	Deadline time.Time   `json:"deadline"`
	Tokens   []RSVPToken `json:"tokens"`
}

// RSVPToken is one token of a batch.
type RSVPToken struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// IssueRSVPs reserves count free units of the drop's SKU until deadline
// (kept to the second) and returns one signed token per unit. Nothing is
// reserved when it fails: ErrNotEnoughFree when fewer units are free.
func (c *Control) IssueRSVPs(ctx context.Context, drop, sku string, count int, deadline time.Time) (RSVPBatch, error) {
	if c.rsvp.keys == nil {
		return RSVPBatch{}, fmt.Errorf("%w: RSVP tokens are not configured on this node (access.node_secrets)", ErrInvalid)
	}
	deadline = deadline.Truncate(time.Second).UTC()
	now := c.rsvp.now()
	op := ReserveOp{Drop: drop, SKU: sku, Batch: newBatchID(), Units: count, Deadline: deadline}
	if err := op.Validate(); err != nil {
		return RSVPBatch{}, err
	}
	switch {
	case !deadline.After(now):
		return RSVPBatch{}, fmt.Errorf("%w: deadline %s is not in the future", ErrInvalid, deadline.Format(time.RFC3339))
	case deadline.After(now.Add(MaxRSVPWindow)):
		return RSVPBatch{}, fmt.Errorf("%w: deadline must be within %v", ErrInvalid, MaxRSVPWindow)
	}
	d, err := c.store.Drop(ctx, drop)
	if err != nil {
		return RSVPBatch{}, err
	}
	if err := c.store.Reserve(ctx, op); err != nil {
		return RSVPBatch{}, err
	}
	c.rsvp.reserved.Add(float64(count))
	b := RSVPBatch{Drop: drop, Stream: d.Stream, SKU: sku, Batch: op.Batch, Deadline: deadline, Tokens: make([]RSVPToken, count)}
	for i := range count {
		r := RSVP{Drop: drop, SKU: sku, Batch: op.Batch, Seq: i + 1, Deadline: deadline}
		b.Tokens[i] = RSVPToken{ID: r.ID(), Token: c.rsvp.keys.Sign(r)}
	}
	c.logger.Info("rsvps issued", "drop", drop, "sku", sku, "batch", op.Batch, "units", count, "deadline", deadline)
	return b, nil
}

// RSVPStream checks that tok is an RSVP token of drop signed by this node
// and returns the drop's stream (for the token's link).
func (c *Control) RSVPStream(ctx context.Context, drop, tok string) (string, error) {
	if c.rsvp.keys == nil {
		return "", fmt.Errorf("%w: RSVP tokens are not configured on this node", ErrInvalid)
	}
	r, err := c.rsvp.keys.Parse(tok)
	if err != nil {
		return "", err
	}
	if r.Drop != drop {
		return "", fmt.Errorf("%w: the token is of drop %s", ErrRSVPInvalid, r.Drop)
	}
	d, err := c.store.Drop(ctx, drop)
	if err != nil {
		return "", err
	}
	return d.Stream, nil
}

// reapRSVPs returns drop's reserved units whose deadline passed.
func (c *Control) reapRSVPs(ctx context.Context, drop string) {
	n, err := c.store.ReapRSVPs(ctx, drop)
	c.rsvp.returned.Add(float64(n))
	if n > 0 {
		c.logger.Info("unredeemed rsvp units returned to the open stock", "drop", drop, "units", n)
	}
	if err != nil {
		c.logger.Debug("reap rsvps", "drop", drop, "err", err)
	}
}
