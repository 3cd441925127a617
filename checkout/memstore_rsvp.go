package checkout

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// The embedded store's RSVP batches: reserving units, selling one to a
// token's holder, and returning a batch's unredeemed units after its
// deadline, and cancelling one token; each is one journaled op (kinds
// "reserve", "rsvpsale", "rsvpreturn", "rsvpcancel") applied the same way
// live and on replay.

// memRSVP is one drop's reserved units; nil until the first reservation.
type memRSVP struct {
	reserved map[string]int       // sku -> reserved units not yet redeemed
	batches  map[string]*memBatch // batch id -> batch
	used     map[string]string    // token id -> the order that used it, or rsvpCancelledMark
}

// rsvpCancelledMark stands in used for a token the seller cancelled.
const rsvpCancelledMark = "!cancelled"

type memBatch struct {
	sku      string
	units    int   // tokens issued
	left     int   // units not redeemed, cancelled or returned
	deadline int64 // ms
}

// memRSVPOp is the RSVP part of a journaled op.
type memRSVPOp struct {
	Reserve *ReserveOp `json:"r,omitempty"`
	Token   *RSVP      `json:"t,omitempty"`
	Batch   string     `json:"b,omitempty"`
	Seq     int        `json:"s,omitempty"` // rsvpcancel: the token of Batch
}

func (md *memDrop) rsvps() *memRSVP {
	if md.rsvp == nil {
		md.rsvp = &memRSVP{reserved: map[string]int{}, batches: map[string]*memBatch{}, used: map[string]string{}}
	}
	return md.rsvp
}

// reservedOf is the SKU's reserved units (Totals).
func (md *memDrop) reservedOf(sku string) int {
	if md.rsvp == nil {
		return 0
	}
	return md.rsvp.reserved[sku]
}

func (s *MemStore) applyRSVP(op memOp) memResult {
	if op.RSVP == nil {
		return memResult{err: fmt.Errorf("store op %q without its rsvp part", op.Kind)}
	}
	switch op.Kind {
	case "reserve":
		return s.applyReserve(op)
	case "rsvpsale":
		return s.applyRSVPSale(op)
	case "rsvpreturn":
		md, ok := s.drops[op.ID]
		if !ok || md.rsvp == nil {
			return memResult{}
		}
		b, ok := md.rsvp.batches[op.RSVP.Batch]
		if !ok || b.left <= 0 || b.deadline > op.NowMs {
			return memResult{}
		}
		n := b.left
		b.left = 0
		md.rsvp.reserved[b.sku] -= n
		md.skus[b.sku].free += n
		return memResult{changed: true, n: n}
	case "rsvpcancel":
		return s.applyRSVPCancel(op)
	}
	return memResult{err: fmt.Errorf("unknown store op %q", op.Kind)}
}

func (s *MemStore) applyReserve(op memOp) memResult {
	r := op.RSVP.Reserve
	md, sk, err := s.skuOf(r.Drop, r.SKU)
	if err != nil {
		return memResult{err: err}
	}
	rv := md.rsvps()
	switch dl := r.Deadline.UnixMilli(); {
	case md.d.State == StateClosed:
		return memResult{err: fmt.Errorf("drop %s is closed: %w", r.Drop, ErrConflict)}
	case rv.batches[r.Batch] != nil:
		return memResult{err: fmt.Errorf("rsvp batch %s exists: %w", r.Batch, ErrConflict)}
	case dl <= op.NowMs:
		return memResult{err: fmt.Errorf("%w: deadline must be in the future", ErrInvalid)}
	case sk.open() < r.Units:
		return memResult{err: fmt.Errorf("%w: %d of %s are free, %d asked", ErrNotEnoughFree, sk.open(), r.SKU, r.Units)}
	default:
		sk.free -= r.Units
		rv.reserved[r.SKU] += r.Units
		rv.batches[r.Batch] = &memBatch{sku: r.SKU, units: r.Units, left: r.Units, deadline: dl}
	}
	return memResult{changed: true}
}

func (s *MemStore) applyRSVPSale(op memOp) memResult {
	it, t := op.Item, op.RSVP.Token
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
	if md.d.State != StateOpen {
		return memResult{res: ShipResult{Outcome: OutcomeNotOpen}}
	}
	if over := md.overLimit(o.SKU, it.Limits, o.Qty); over != "" {
		return memResult{res: ShipResult{Outcome: OutcomeLimit, Limit: over}}
	}
	if held := md.heldElsewhere(o.SKU, it.Limits, o.Edge, op.NowMs); held != "" {
		return memResult{changed: true, res: ShipResult{Outcome: OutcomeLimitHeld, Limit: held}}
	}
	rv := md.rsvps()
	if by, used := rv.used[t.ID()]; by == rsvpCancelledMark {
		return memResult{res: ShipResult{Outcome: OutcomeRSVPCancelled}}
	} else if used {
		return memResult{res: ShipResult{Outcome: OutcomeRSVPUsed}}
	}
	b, ok := rv.batches[t.Batch]
	if !ok || b.sku != o.SKU || b.left < o.Qty || b.deadline <= op.NowMs {
		return memResult{res: ShipResult{Outcome: OutcomeRSVPExpired}}
	}
	b.left -= o.Qty
	rv.reserved[o.SKU] -= o.Qty
	rv.used[t.ID()] = o.ID
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

// Reserve implements RSVPStore.
func (s *MemStore) Reserve(ctx context.Context, op ReserveOp) error {
	if err := op.Validate(); err != nil {
		return err
	}
	_, err := s.do(ctx, memOp{Kind: "reserve", RSVP: &memRSVPOp{Reserve: &op}})
	return err
}

// SellRSVP implements RSVPStore.
func (s *MemStore) SellRSVP(ctx context.Context, it ShipItem, r RSVP) (ShipResult, error) {
	if it.Order.Qty != 1 {
		return ShipResult{}, fmt.Errorf("%w: an RSVP holds one unit: qty must be 1", ErrInvalid)
	}
	it.Order.RSVP = r.ID()
	res, err := s.do(ctx, memOp{Kind: "rsvpsale", Item: &it, RSVP: &memRSVPOp{Token: &r}})
	return res.res, err
}

// ReapRSVPs implements RSVPStore.
func (s *MemStore) ReapRSVPs(ctx context.Context, drop string) (int, error) {
	now := s.now().UnixMilli()
	s.mu.Lock()
	var due []string
	if md, ok := s.drops[drop]; ok && md.rsvp != nil {
		for id, b := range md.rsvp.batches {
			if b.left > 0 && b.deadline <= now {
				due = append(due, id)
			}
		}
	}
	s.mu.Unlock()
	total := 0
	for _, id := range due {
		r, err := s.do(ctx, memOp{Kind: "rsvpreturn", ID: drop, RSVP: &memRSVPOp{Batch: id}})
		if err != nil {
			return total, err
		}
		total += r.n
	}
	return total, nil
}

func (s *MemStore) applyRSVPCancel(op memOp) memResult {
	md, ok := s.drops[op.ID]
	if !ok {
		return memResult{err: fmt.Errorf("drop %s: %w", op.ID, ErrNotFound)}
	}
	c := op.RSVP
	var b *memBatch
	if md.rsvp != nil {
		b = md.rsvp.batches[c.Batch]
	}
	if b == nil || c.Seq < 1 || c.Seq > b.units {
		return memResult{err: fmt.Errorf("rsvp %s-%d of drop %s: %w", c.Batch, c.Seq, op.ID, ErrNotFound)}
	}
	id := c.Batch + "-" + strconv.Itoa(c.Seq)
	switch by, used := md.rsvp.used[id]; {
	case by == rsvpCancelledMark:
		return memResult{}
	case used:
		return memResult{err: fmt.Errorf("%w by order %s", ErrRSVPUsed, by)}
	case b.left <= 0 || b.deadline <= op.NowMs:
		return memResult{err: ErrRSVPExpired}
	}
	b.left--
	md.rsvp.reserved[b.sku]--
	md.skus[b.sku].free++
	md.rsvp.used[id] = rsvpCancelledMark
	return memResult{changed: true, n: 1}
}

// RSVPBatches implements RSVPStore.
func (s *MemStore) RSVPBatches(ctx context.Context, drop string) ([]RSVPBatchState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.drops[drop]
	if !ok {
		return nil, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	}
	if md.rsvp == nil {
		return nil, nil
	}
	out := make([]RSVPBatchState, 0, len(md.rsvp.batches))
	byID := map[string]int{}
	for id, b := range md.rsvp.batches {
		byID[id] = len(out)
		out = append(out, RSVPBatchState{Batch: id, SKU: b.sku, Units: b.units, Left: b.left,
			Deadline: time.UnixMilli(b.deadline).UTC(), Used: map[int]string{}, Cancelled: map[int]bool{}})
	}
	return withTokens(out, byID, md.rsvp.used), nil
}

// CancelRSVP implements RSVPStore.
func (s *MemStore) CancelRSVP(ctx context.Context, drop, batch string, seq int) (bool, error) {
	r, err := s.do(ctx, memOp{Kind: "rsvpcancel", ID: drop, RSVP: &memRSVPOp{Batch: batch, Seq: seq}})
	return r.n == 1, err
}
