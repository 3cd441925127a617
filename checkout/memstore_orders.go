package checkout

import (
	"context"
	"fmt"
)

// The embedded store's seller-side order calls: a drop's orders newest
// first, and refunds (RefundOp), each refund one journaled op.

// DropOrders implements Store; positions are places in the drop's log.
func (s *MemStore) DropOrders(_ context.Context, drop string, before, limit int) ([]Order, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.drops[drop]
	if !ok {
		return nil, 0, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	}
	n := len(md.log)
	if before <= 0 || before > n {
		before = n
	}
	from := max(0, before-max(limit, 1))
	out := make([]Order, 0, before-from)
	for i := before - 1; i >= from; i-- {
		out = append(out, md.orders[md.log[i]])
	}
	return out, n, nil
}

// Refund implements Store.
func (s *MemStore) Refund(ctx context.Context, op RefundOp) (Order, bool, error) {
	r, err := s.do(ctx, memOp{Kind: "refund", ID: op.ID, State: op.From, Restock: op.Restock})
	return r.res.Order, r.changed, err
}

func (s *MemStore) applyRefund(op memOp) memResult {
	md, o, err := s.orderOf(op.ID)
	if err != nil {
		return memResult{err: err}
	}
	if o.Status != op.State {
		return memResult{res: ShipResult{Outcome: Outcome(o.Status), Order: o}}
	}
	sk := md.skus[o.SKU]
	switch o.Status {
	case StatusPending:
		o.Status, o.Reason = StatusCancelled, ReasonSellerCancelled
		sk.cancelled++
		delete(md.pending, o.ID)
	case StatusPaid:
		o.Status, o.Reason = StatusRefunded, ReasonSellerRefunded
		sk.paid--
		sk.refunded++
	default:
		return memResult{res: ShipResult{Outcome: Outcome(o.Status), Order: o}}
	}
	sk.sold -= o.Qty
	sk.orders--
	sk.revenue -= o.TotalCents
	if op.Restock {
		sk.free += o.Qty
	} else {
		sk.stock -= o.Qty
	}
	for _, k := range o.Limits {
		md.used[limitField(o.SKU, k)] -= o.Qty
	}
	md.orders[o.ID] = o
	return memResult{changed: true, res: ShipResult{Outcome: Outcome(o.Status), Order: o}}
}
