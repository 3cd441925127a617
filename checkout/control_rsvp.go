package checkout

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// controlRSVP is the seller's side of RSVP drops: it issues batches of
// signed tokens over reserved units and, in the reap loop, returns the
// units of batches whose deadline passed.
type controlRSVP struct {
	keys      *RSVPKeys // nil: RSVPs are not configured
	now       func() time.Time
	reserved  prometheus.Counter
	returned  prometheus.Counter
	cancelled prometheus.Counter
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
		cancelled: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_checkout_rsvp_cancelled_total",
			Help: "RSVP tokens the seller cancelled before use (each returned its unit to free stock)."}),
	}
	for _, col := range []prometheus.Collector{r.reserved, r.returned, r.cancelled} {
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

// ParseRSVP checks a token's form and signature (not its deadline).
func (c *Control) ParseRSVP(tok string) (RSVP, error) {
	if c.rsvp.keys == nil {
		return RSVP{}, fmt.Errorf("%w: RSVP tokens are not configured on this node", ErrInvalid)
	}
	return c.rsvp.keys.Parse(tok)
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

// RSVP token states in a batch listing.
const (
	RSVPOpen      = "open"      // holds its unit, usable until the deadline
	RSVPUsed      = "used"      // an order used it
	RSVPCancelled = "cancelled" // the seller cancelled it
	RSVPReturned  = "returned"  // its unit went back at the deadline
)

// RSVPTokenState is one token of a listed batch.
type RSVPTokenState struct {
	RSVPToken
	State string `json:"state"`
	Order string `json:"order,omitempty"` // the order that used it
}

// RSVPBatchList is a batch as the seller lists it: its tokens re-signed
// (a token is deterministic for its fields and the signing key) with what
// became of each.
type RSVPBatchList struct {
	Drop     string           `json:"drop"`
	Stream   string           `json:"stream"`
	SKU      string           `json:"sku"`
	Batch    string           `json:"batch"`
	Deadline time.Time        `json:"deadline"`
	Units    int              `json:"units"`
	Left     int              `json:"left"`
	Tokens   []RSVPTokenState `json:"tokens"`
}

// RSVPBatches lists drop's batches, earliest deadline first.
func (c *Control) RSVPBatches(ctx context.Context, drop string) ([]RSVPBatchList, error) {
	if c.rsvp.keys == nil {
		return nil, fmt.Errorf("%w: RSVP tokens are not configured on this node (access.node_secrets)", ErrInvalid)
	}
	d, err := c.store.Drop(ctx, drop)
	if err != nil {
		return nil, err
	}
	bs, err := c.store.RSVPBatches(ctx, drop)
	if err != nil {
		return nil, err
	}
	now := c.rsvp.now()
	out := make([]RSVPBatchList, 0, len(bs))
	for _, b := range bs {
		units := b.Units
		if units == 0 { // reserved before the store kept the count
			units = max(b.Left+len(b.Used)+len(b.Cancelled), maxSeq(b))
		}
		l := RSVPBatchList{Drop: drop, Stream: d.Stream, SKU: b.SKU, Batch: b.Batch, Deadline: b.Deadline,
			Units: units, Left: b.Left, Tokens: make([]RSVPTokenState, units)}
		for i := range units {
			r := RSVP{Drop: drop, SKU: b.SKU, Batch: b.Batch, Seq: i + 1, Deadline: b.Deadline}
			ts := RSVPTokenState{RSVPToken: RSVPToken{ID: r.ID(), Token: c.rsvp.keys.Sign(r)}, State: RSVPOpen}
			switch {
			case b.Used[i+1] != "":
				ts.State, ts.Order = RSVPUsed, b.Used[i+1]
			case b.Cancelled[i+1]:
				ts.State = RSVPCancelled
			case b.Left == 0 || !now.Before(b.Deadline):
				ts.State = RSVPReturned
			}
			l.Tokens[i] = ts
		}
		out = append(out, l)
	}
	return out, nil
}

func maxSeq(b RSVPBatchState) int {
	m := 0
	for s := range b.Used {
		m = max(m, s)
	}
	for s := range b.Cancelled {
		m = max(m, s)
	}
	return m
}

// CancelRSVP cancels one unused token of drop, named by its id
// (BATCH-SEQ) or by the token itself, and returns its unit to free stock;
// false when it was cancelled already. ErrNotFound, ErrRSVPUsed and
// ErrRSVPExpired say why not.
func (c *Control) CancelRSVP(ctx context.Context, drop, token string) (bool, error) {
	batch, seq, ok := splitTokenID(token)
	if strings.Contains(token, ".") {
		r, err := c.ParseRSVP(token)
		if err != nil {
			return false, err
		}
		if r.Drop != drop {
			return false, fmt.Errorf("%w: the token is of drop %s", ErrRSVPInvalid, r.Drop)
		}
		batch, seq, ok = r.Batch, r.Seq, true
	}
	if !ok {
		return false, fmt.Errorf("%w: name a token by its id (BATCH-SEQ) or the token itself", ErrInvalid)
	}
	changed, err := c.store.CancelRSVP(ctx, drop, batch, seq)
	if err != nil {
		return false, err
	}
	if changed {
		c.rsvp.cancelled.Inc()
		c.logger.Info("rsvp cancelled: its unit went back to the open stock", "drop", drop, "rsvp", batch+"-"+strconv.Itoa(seq))
	}
	return changed, nil
}
