package checkout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// edgeRSVP is the edge's part of RSVP drops: it verifies a token without a
// round trip and sells its reserved unit through the store, which keeps
// every token single-use across edges.
type edgeRSVP struct {
	keys     *RSVPKeys // nil: this edge takes no RSVP tokens
	redeemed prometheus.Counter
	early    prometheus.Counter // edge_rsvp_early.go
}

func newEdgeRSVP(reg prometheus.Registerer, edge string, keys *RSVPKeys) (*edgeRSVP, error) {
	r := &edgeRSVP{keys: keys, redeemed: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_checkout_rsvp_redeemed_total",
		Help: "Orders sold from reserved units against an RSVP token.", ConstLabels: prometheus.Labels{"edge": edge}})}
	if err := reg.Register(r.redeemed); err != nil {
		return nil, err
	}
	if err := registerRSVPEarly(reg, edge, r); err != nil {
		return nil, err
	}
	return r, nil
}

// sellRSVP sells order o from the unit reserved for the request's token.
// A forged token or one of another drop or SKU is refused before anything
// else; after the deadline only a retry of an order the token already
// bought is answered (with that order). Limits apply as for a direct sale.
func (e *Edge) sellRSVP(ctx context.Context, req OrderRequest, o Order, def SKU, lims []Limit, sk *edgeSKU, eo *edgeOrder) (Order, string, error) {
	if e.rsvp.keys == nil {
		return Order{}, "", fmt.Errorf("%w: this edge does not take RSVP tokens", ErrRSVPInvalid)
	}
	r, err := e.rsvp.keys.Verify(req.RSVP, req.Drop, req.SKU)
	if errors.Is(err, ErrRSVPExpired) {
		if so, found, lerr := e.storedOrder(ctx, o.ID); lerr == nil && found {
			e.book.update(eo, func(eo *edgeOrder) { eo.shipped = true })
			return so, "lookup", nil
		}
	}
	if err != nil {
		return Order{}, "", err
	}
	o.RSVP = r.ID()
	giveUp := time.Now().Add(e.cfg.HeldWait)
	for {
		if over, err := e.takeForDirect(ctx, sk, o, lims, giveUp); err != nil {
			return Order{}, "", err
		} else if over != "" {
			return e.refuseLimit(ctx, o.ID, eo, def, over)
		}
		cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
		res, err := e.store.SellRSVP(cctx, ShipItem{Order: o, Limits: lims, Hold: e.cfg.HoldTime}, r)
		cancel()
		counted := err != nil || res.Outcome == OutcomeCreated
		if sk.settleAllowances(o.Limits, o.Qty, counted, err == nil && res.Outcome == OutcomeLimit) {
			e.kickSync()
		}
		if err != nil {
			if ClassOf(err) == ClassInternal {
				err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return Order{}, "", fmt.Errorf("rsvp sale: %w", err)
		}
		switch res.Outcome {
		case OutcomeCreated:
			e.book.update(eo, func(eo *edgeOrder) { eo.shipped = true })
			e.enqueuePayment(res.Order)
			e.rsvp.redeemed.Inc()
			return res.Order, "rsvp", nil
		case OutcomeExists, OutcomeDuplicate:
			e.book.update(eo, func(eo *edgeOrder) { eo.shipped = true })
			return res.Order, "lookup", nil
		case OutcomeNotOpen:
			return Order{}, "", fmt.Errorf("drop %s: %w", o.Drop, ErrNotOpen)
		case OutcomeLimit:
			return Order{}, "", e.errLimit(def, res.Limit)
		case OutcomeRSVPUsed:
			return Order{}, "", fmt.Errorf("%w (by another order): each RSVP buys once", ErrRSVPUsed)
		case OutcomeRSVPExpired:
			return Order{}, "", ErrRSVPExpired
		case OutcomeRSVPCancelled:
			return Order{}, "", ErrRSVPCancelled
		case OutcomeLimitHeld:
			// The store names another edge as the holder: ours is gone.
			sk.mu.Lock()
			if a, ok := sk.allow[res.Limit]; ok {
				a.until = time.Time{}
			}
			sk.mu.Unlock()
			continue
		}
		return Order{}, "", fmt.Errorf("rsvp sale: unexpected outcome %q", res.Outcome)
	}
}
