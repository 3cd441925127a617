package checkout

import (
	"context"
	"slices"
	"time"
)

// The embedded store's calls that change state: each is one journaled op
// (do), so a crash replays to the same state. applySale records orders.

func (s *MemStore) applySale(op memOp) memResult {
	it := op.Item
	o := it.Order
	md, sk, err := s.skuOf(o.Drop, o.SKU)
	if err != nil {
		return memResult{err: err}
	}
	if ex, ok := md.orders[o.ID]; ok {
		if ex.Edge == o.Edge {
			return memResult{res: ShipResult{Outcome: OutcomeExists, Order: ex}}
		}
		return memResult{res: ShipResult{Outcome: OutcomeDuplicate, Order: ex}}
	}
	over := md.overLimit(o.SKU, it.Limits, o.Qty)
	if op.Kind == "direct" {
		if md.d.State != StateOpen {
			return memResult{res: ShipResult{Outcome: OutcomeNotOpen}}
		}
		if over != "" {
			return memResult{res: ShipResult{Outcome: OutcomeLimit, Limit: over}}
		}
		if held := md.heldElsewhere(o.SKU, it.Limits, o.Edge, op.NowMs); held != "" {
			return memResult{changed: true, res: ShipResult{Outcome: OutcomeLimitHeld, Limit: held}}
		}
		switch {
		case sk.open() < o.Qty && sk.leased > 0:
			return memResult{res: ShipResult{Outcome: OutcomeHeld}}
		case sk.open() < o.Qty:
			return memResult{res: ShipResult{Outcome: OutcomeSoldOut}}
		}
		sk.free -= o.Qty
	} else {
		f := leaseField(o.SKU, o.Edge)
		src := ""
		if md.leases[f] >= o.Qty {
			src = "lease"
			md.leases[f] -= o.Qty
			sk.leased -= o.Qty
		} else if sk.open() >= o.Qty {
			src = "free"
			sk.free -= o.Qty
		}
		reason := ""
		if src == "" {
			reason = "lease_expired"
		} else if over != "" {
			reason = "limit"
		}
		if reason != "" {
			if src != "" {
				sk.free += o.Qty
			}
			o.Status, o.Reason = StatusCancelled, reason
			sk.cancelled++
			s.record(md, o, op.NowMs)
			return memResult{changed: true, res: ShipResult{Outcome: OutcomeCancelled, Order: o}}
		}
	}
	sk.sold += o.Qty
	sk.orders++
	sk.revenue += o.TotalCents
	for _, l := range it.Limits {
		md.used[limitField(o.SKU, l.Key)] += o.Qty
	}
	md.pending[o.ID] = op.NowMs + it.Hold.Milliseconds()
	s.record(md, o, op.NowMs)
	return memResult{changed: true, res: ShipResult{Outcome: OutcomeCreated, Order: o}}
}

// CreateDrop implements Store.
func (s *MemStore) CreateDrop(ctx context.Context, d Drop) error {
	if err := d.Validate(); err != nil {
		return err
	}
	d.SKUs = slices.Clone(d.SKUs)
	_, err := s.do(ctx, memOp{Kind: "create", Drop: &d})
	return err
}

// SetState implements Store.
func (s *MemStore) SetState(ctx context.Context, drop, state string) error {
	_, err := s.do(ctx, memOp{Kind: "state", ID: drop, State: state})
	return err
}

// Grant implements Store.
func (s *MemStore) Grant(ctx context.Context, op LeaseOp) (Grant, error) {
	r, err := s.do(ctx, memOp{Kind: "grant", Lease: &op})
	return r.grant, err
}

// Return implements Store.
func (s *MemStore) Return(ctx context.Context, op LeaseOp) (int, error) {
	r, err := s.do(ctx, memOp{Kind: "return", Lease: &op})
	return r.n, err
}

// Renew implements Store.
func (s *MemStore) Renew(ctx context.Context, drop, sku, edge string, ttl time.Duration) (int, error) {
	r, err := s.do(ctx, memOp{Kind: "renew", Lease: &LeaseOp{Drop: drop, SKU: sku, Edge: edge, TTL: ttl}})
	return r.n, err
}

// Ship implements Store.
func (s *MemStore) Ship(ctx context.Context, items []ShipItem) ([]ShipResult, error) {
	out := make([]ShipResult, len(items))
	for i := range items {
		r, err := s.do(ctx, memOp{Kind: "ship", Item: &items[i]})
		if err != nil {
			return nil, err
		}
		out[i] = r.res
	}
	return out, nil
}

// Allow implements Store.
func (s *MemStore) Allow(ctx context.Context, op AllowOp) ([]int, error) {
	if len(op.Items) == 0 {
		return nil, nil
	}
	op.Items = slices.Clone(op.Items)
	r, err := s.do(ctx, memOp{Kind: "allow", Allow: &op})
	return r.left, err
}

// Release implements Store.
func (s *MemStore) Release(ctx context.Context, drop, edge string, items []AllowItem) error {
	if len(items) == 0 {
		return nil
	}
	_, err := s.do(ctx, memOp{Kind: "release", Allow: &AllowOp{Drop: drop, Edge: edge, Items: slices.Clone(items)}})
	return err
}

// SellDirect implements Store.
func (s *MemStore) SellDirect(ctx context.Context, it ShipItem) (ShipResult, error) {
	r, err := s.do(ctx, memOp{Kind: "direct", Item: &it})
	return r.res, err
}

// ConfirmPayment implements Store.
func (s *MemStore) ConfirmPayment(ctx context.Context, id string) (Order, error) {
	r, err := s.do(ctx, memOp{Kind: "confirm", ID: id})
	return r.res.Order, err
}

// Cancel implements Store.
func (s *MemStore) Cancel(ctx context.Context, id, reason string) (Order, error) {
	r, err := s.do(ctx, memOp{Kind: "cancel", ID: id, Reason: reason})
	return r.res.Order, err
}

// ReapHolds implements Store.
func (s *MemStore) ReapHolds(ctx context.Context, drop string) (int, error) {
	now := s.now().UnixMilli()
	s.mu.Lock()
	var due []string
	if md, ok := s.drops[drop]; ok {
		for id, dl := range md.pending {
			if dl <= now {
				due = append(due, id)
			}
		}
	}
	s.mu.Unlock()
	n := 0
	for _, id := range due {
		r, err := s.do(ctx, memOp{Kind: "cancel", ID: id, Reason: "hold_expired", Due: true})
		if err != nil {
			return n, err
		}
		if r.res.Outcome == OutcomeCancelled {
			n++
		}
	}
	return n, nil
}

// ReapLeases implements Store.
func (s *MemStore) ReapLeases(ctx context.Context, drop string) (int, error) {
	now := s.now().UnixMilli()
	s.mu.Lock()
	var due []string
	if md, ok := s.drops[drop]; ok {
		for f, dl := range md.leaseExp {
			if dl <= now {
				due = append(due, f)
			}
		}
	}
	s.mu.Unlock()
	total := 0
	for _, f := range due {
		sku, edge, _ := cutField(f)
		r, err := s.do(ctx, memOp{Kind: "reclaim", Lease: &LeaseOp{Drop: drop, SKU: sku, Edge: edge}})
		if err != nil {
			return total, err
		}
		total += r.n
	}
	return total, nil
}

func cutField(f string) (string, string, bool) {
	for i := 0; i < len(f); i++ {
		if f[i] == '|' {
			return f[:i], f[i+1:], true
		}
	}
	return f, "", false
}
