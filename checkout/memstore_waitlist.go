package checkout

import (
	"context"
	"fmt"
	"slices"
)

// The embedded store's lottery waitlist, with the rules of the Redis
// scripts (redisstore_waitlist.go): filing the draw's lost entries
// ("wl_set") and offering a free unit to one of them ("wl_offer"), each one
// journaled op applied the same way live and on replay.

// open is the SKU's free units anyone may take (waitlist.go).
func (sk *memSKU) open() int { return openFree(sk.free, sk.waitlist) }

func (s *MemStore) applyWaitlist(op memOp) memResult {
	if op.Kind == "wl_offer" {
		return s.applyOffer(op)
	}
	md, ok := s.drops[op.ID]
	if !ok {
		return memResult{err: fmt.Errorf("drop %s: %w", op.ID, ErrNotFound)}
	}
	if md.lot == nil || md.d.State != StateDrawing || op.Lot == nil {
		return memResult{err: fmt.Errorf("drop %s is %s, cannot file its waitlist: %w", op.ID, md.d.State, ErrConflict)}
	}
	lot := md.lot
	if op.Lot.Reset {
		for _, sk := range md.skus {
			sk.waitlist = 0
		}
		lot.waiting = lot.waiting[:0]
	}
	for _, r := range op.Lot.Entries {
		e, ok := lot.entries[r.ID]
		if !ok {
			continue
		}
		if sk, ok := md.skus[e.SKU]; ok {
			sk.waitlist += e.Qty
			lot.waiting = append(lot.waiting, r.ID)
		}
	}
	return memResult{changed: true}
}

// applyOffer sells waiting entry it.Order.ID a free unit (OfferWaitlist).
func (s *MemStore) applyOffer(op memOp) memResult {
	it := op.Item
	o := it.Order
	md, sk, err := s.skuOf(o.Drop, o.SKU)
	if err != nil {
		return memResult{err: err}
	}
	var i int
	if md.lot != nil {
		i = slices.Index(md.lot.waiting, o.ID)
	}
	if md.lot == nil || i < 0 {
		return memResult{res: ShipResult{Outcome: OutcomeNotWaiting}}
	}
	lot := md.lot
	en := lot.entries[o.ID]
	off := func(result, order string) {
		lot.waiting = slices.Delete(lot.waiting, i, i+1)
		sk.waitlist -= en.Qty
		en.Result, en.Order = result, order
		lot.entries[o.ID] = en
	}
	if ex, ok := md.orders[o.ID]; ok {
		off(EntryWon, ex.ID)
		if ex.Edge == o.Edge {
			return memResult{changed: true, res: ShipResult{Outcome: OutcomeExists, Order: ex}}
		}
		return memResult{changed: true, res: ShipResult{Outcome: OutcomeDuplicate, Order: ex}}
	}
	if md.d.State != StateOpen {
		return memResult{res: ShipResult{Outcome: OutcomeNotOpen}}
	}
	if over := md.overLimit(o.SKU, it.Limits, o.Qty); over != "" {
		off(EntryLimit, "")
		return memResult{changed: true, res: ShipResult{Outcome: OutcomeLimit, Limit: over}}
	}
	if held := md.heldElsewhere(o.SKU, it.Limits, o.Edge, op.NowMs); held != "" {
		return memResult{changed: true, res: ShipResult{Outcome: OutcomeLimitHeld, Limit: held}}
	}
	if sk.free < o.Qty {
		return memResult{res: ShipResult{Outcome: OutcomeSoldOut}}
	}
	sk.free -= o.Qty
	off(EntryWon, o.ID)
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

// SetWaitlist implements WaitlistStore.
func (s *MemStore) SetWaitlist(ctx context.Context, drop string, lost []Entry) error {
	ops := []memOp{{Kind: "wl_set", ID: drop, Lot: &memLotOp{Reset: true}}}
	for len(lost) > 0 {
		n := min(len(lost), resultsPerOp)
		part := make([]Entry, n)
		for i, e := range lost[:n] {
			part[i] = Entry{ID: e.ID, Place: e.Place}
		}
		ops = append(ops, memOp{Kind: "wl_set", ID: drop, Lot: &memLotOp{Entries: part}})
		lost = lost[n:]
	}
	rs, err := s.doAll(ctx, ops)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.err != nil {
			return r.err
		}
	}
	return nil
}

// Waiting implements WaitlistStore.
func (s *MemStore) Waiting(_ context.Context, drop string, from, n int) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.drops[drop]
	if !ok {
		return nil, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	}
	if md.lot == nil || from >= len(md.lot.waiting) || n <= 0 {
		return nil, nil
	}
	ids := md.lot.waiting[max(0, from):min(len(md.lot.waiting), max(0, from)+n)]
	out := make([]Entry, len(ids))
	for i, id := range ids {
		e := md.lot.entries[id]
		e.Limits = slices.Clone(e.Limits)
		out[i] = e
	}
	return out, nil
}

// OfferWaitlist implements WaitlistStore.
func (s *MemStore) OfferWaitlist(ctx context.Context, it ShipItem) (ShipResult, error) {
	r, err := s.do(ctx, memOp{Kind: "wl_offer", Item: &it})
	return r.res, err
}
