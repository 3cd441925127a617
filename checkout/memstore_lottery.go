package checkout

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Opening lotteries in the embedded store, with the rules of the Redis
// scripts (redisstore_lottery.go): each call is one journaled op (Award
// and SetResults a batch of them), so a crash replays to the same state.

// memLottery is one drop's lottery: its record (the seed kept in it until
// the draw reveals it) and its entries.
type memLottery struct {
	info    LotteryInfo
	entries map[string]Entry
	ids     []string // entry ids in the order they came
	waiting []string // waitlisted entry ids, place order (memstore_waitlist.go)
}

// memLotOp is the payload of a lottery op.
type memLotOp struct {
	Seed    string  `json:"seed,omitempty"`
	AtMs    int64   `json:"at,omitempty"`
	Entry   *Entry  `json:"e,omitempty"`
	Max     int     `json:"max,omitempty"`
	Entries []Entry `json:"es,omitempty"`
	// Reset: the first "wl_set" op of a waitlist (the rest append to it).
	Reset bool `json:"reset,omitempty"`
}

// memLotAnswer is what a lottery op answers.
type memLotAnswer struct {
	info  LotteryInfo
	enter EnterResult
}

func (s *MemStore) applyLottery(op memOp) memResult {
	if op.Kind == "award" {
		return s.applyAward(op)
	}
	l := op.Lot
	if l == nil {
		return memResult{err: fmt.Errorf("store op %s without its lottery: %w", op.Kind, ErrInvalid)}
	}
	id := op.ID
	md, ok := s.drops[id]
	if !ok {
		return memResult{err: fmt.Errorf("drop %s: %w", id, ErrNotFound)}
	}
	lot := md.lot
	switch op.Kind {
	case "lot_start":
		if lot != nil {
			return memResult{lot: memLotAnswer{info: lot.infoNow()}}
		}
		if md.d.State != StateCreated || md.d.Lottery == nil {
			return memResult{err: fmt.Errorf("drop %s is %s, cannot start a lottery: %w", id, md.d.State, ErrConflict)}
		}
		seed, err := hex.DecodeString(l.Seed)
		if err != nil || len(seed) == 0 {
			return memResult{err: fmt.Errorf("lottery seed: %w", ErrInvalid)}
		}
		md.d.State = StateDrawing
		md.lot = &memLottery{entries: map[string]Entry{}, info: LotteryInfo{
			OpensAt: md.d.OpensAt, WindowMs: int(md.d.Lottery.Window().Milliseconds()),
			StartedAt: time.UnixMilli(l.AtMs).UTC(), SeedHash: SeedHash(seed), Seed: l.Seed,
		}}
		return memResult{changed: true, lot: memLotAnswer{info: md.lot.infoNow()}}
	case "lot_enter":
		e := *l.Entry
		if lot != nil {
			if ex, ok := lot.entries[e.ID]; ok {
				return memResult{lot: memLotAnswer{enter: EnterResult{Outcome: EnterExists, Entry: ex, Lottery: lot.public()}}}
			}
		}
		switch {
		case lot == nil || md.d.State != StateDrawing:
			return memResult{lot: memLotAnswer{enter: EnterResult{Outcome: EnterNot, State: md.d.State}}}
		case lot.info.Closed:
			return memResult{lot: memLotAnswer{enter: EnterResult{Outcome: EnterClosed}}}
		case len(lot.ids) >= l.Max:
			return memResult{lot: memLotAnswer{enter: EnterResult{Outcome: EnterFull}}}
		}
		e.Result, e.Order, e.Place = "", "", 0
		lot.entries[e.ID] = e
		lot.ids = append(lot.ids, e.ID)
		return memResult{changed: true, lot: memLotAnswer{enter: EnterResult{Outcome: EnterNew, Entry: e, Lottery: lot.public()}}}
	}
	if lot == nil {
		return memResult{err: fmt.Errorf("lottery of drop %s: %w", id, ErrNotFound)}
	}
	switch op.Kind {
	case "lot_close":
		if lot.info.Closed {
			return memResult{}
		}
		lot.info.Closed = true
		return memResult{changed: true}
	case "lot_results":
		for _, r := range l.Entries {
			if e, ok := lot.entries[r.ID]; ok {
				e.Result, e.Order, e.Place = r.Result, r.Order, r.Place
				lot.entries[r.ID] = e
			}
		}
		return memResult{changed: true}
	case "lot_finish":
		switch {
		case md.d.State == StateDrawing:
			lot.info.Closed, lot.info.Drawn = true, true
			md.d.State = StateOpen
			return memResult{changed: true}
		case lot.info.Drawn:
			return memResult{}
		}
		return memResult{err: fmt.Errorf("drop %s is %s, cannot finish its draw: %w", id, md.d.State, ErrConflict)}
	}
	return memResult{err: fmt.Errorf("unknown store op %q", op.Kind)}
}

// public is what an entry's answer tells of the lottery: the seed hash,
// start and window, never the seed.
func (l *memLottery) public() LotteryInfo {
	return LotteryInfo{SeedHash: l.info.SeedHash, StartedAt: l.info.StartedAt, WindowMs: l.info.WindowMs}
}

func (l *memLottery) infoNow() LotteryInfo {
	i := l.info
	i.Entries = len(l.ids)
	return i
}

// applyAward sells one winner: SellDirect's rules in state drawing (no
// edge holds a lease or an allowance before the drop first opens).
func (s *MemStore) applyAward(op memOp) memResult {
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
	if md.d.State != StateDrawing {
		return memResult{res: ShipResult{Outcome: OutcomeNotOpen}}
	}
	if over := md.overLimit(o.SKU, it.Limits, o.Qty); over != "" {
		return memResult{res: ShipResult{Outcome: OutcomeLimit, Limit: over}}
	}
	if sk.free < o.Qty {
		return memResult{res: ShipResult{Outcome: OutcomeSoldOut}}
	}
	sk.free -= o.Qty
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

// doAll applies ops in order under one lock and waits for all of them to
// be durable: a batch costs one group commit, not one per op.
func (s *MemStore) doAll(ctx context.Context, ops []memOp) ([]memResult, error) {
	now := s.now().UnixMilli()
	out := make([]memResult, len(ops))
	ws := make([]Waiter, 0, len(ops))
	s.mu.Lock()
	for i := range ops {
		ops[i].NowMs = now
		out[i] = s.apply(ops[i])
		if !out[i].changed {
			continue
		}
		rec, err := json.Marshal(ops[i])
		if err == nil {
			var w Waiter
			w, err = s.j.Enqueue(rec)
			ws = append(ws, w)
		}
		if err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("journal store op: %w", err)
		}
	}
	s.mu.Unlock()
	for _, w := range ws {
		if err := w.Wait(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// StartLottery implements LotteryStore.
func (s *MemStore) StartLottery(ctx context.Context, drop string, seed []byte, at time.Time) (LotteryInfo, error) {
	r, err := s.do(ctx, memOp{Kind: "lot_start", ID: drop, Lot: &memLotOp{Seed: hex.EncodeToString(seed), AtMs: at.UnixMilli()}})
	return r.lot.info, err
}

// Enter implements LotteryStore.
func (s *MemStore) Enter(ctx context.Context, e Entry, maxEntries int) (EnterResult, error) {
	e.Limits = slices.Clone(e.Limits)
	r, err := s.do(ctx, memOp{Kind: "lot_enter", ID: e.Drop, Lot: &memLotOp{Entry: &e, Max: maxEntries}})
	return r.lot.enter, err
}

// Entry implements LotteryStore.
func (s *MemStore) Entry(_ context.Context, drop, id string) (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if md, ok := s.drops[drop]; ok && md.lot != nil {
		if e, ok := md.lot.entries[id]; ok {
			e.Limits = slices.Clone(e.Limits)
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("entry %s: %w", id, ErrNotFound)
}

// CloseEntries implements LotteryStore.
func (s *MemStore) CloseEntries(ctx context.Context, drop string) error {
	_, err := s.do(ctx, memOp{Kind: "lot_close", ID: drop, Lot: &memLotOp{}})
	return err
}

// Entries implements LotteryStore.
func (s *MemStore) Entries(_ context.Context, drop string) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.drops[drop]
	if !ok || md.lot == nil {
		return nil, fmt.Errorf("lottery of drop %s: %w", drop, ErrNotFound)
	}
	out := make([]Entry, 0, len(md.lot.ids))
	for _, id := range md.lot.ids {
		out = append(out, md.lot.entries[id])
	}
	return out, nil
}

// Award implements LotteryStore.
func (s *MemStore) Award(ctx context.Context, items []ShipItem) ([]ShipResult, error) {
	ops := make([]memOp, len(items))
	for i := range items {
		it := items[i]
		ops[i] = memOp{Kind: "award", Item: &it}
	}
	rs, err := s.doAll(ctx, ops)
	if err != nil {
		return nil, err
	}
	out := make([]ShipResult, len(rs))
	for i, r := range rs {
		if r.err != nil {
			return nil, r.err
		}
		out[i] = r.res
	}
	return out, nil
}

// resultsPerOp bounds the entries of one journaled results op (a journal
// record is at most 1 MiB).
const resultsPerOp = 500

// SetResults implements LotteryStore.
func (s *MemStore) SetResults(ctx context.Context, drop string, entries []Entry) error {
	var ops []memOp
	for len(entries) > 0 {
		n := min(len(entries), resultsPerOp)
		part := make([]Entry, n)
		for i, e := range entries[:n] {
			part[i] = Entry{ID: e.ID, Result: e.Result, Order: e.Order, Place: e.Place}
		}
		ops = append(ops, memOp{Kind: "lot_results", ID: drop, Lot: &memLotOp{Entries: part}})
		entries = entries[n:]
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

// FinishLottery implements LotteryStore.
func (s *MemStore) FinishLottery(ctx context.Context, drop string) error {
	_, err := s.do(ctx, memOp{Kind: "lot_finish", ID: drop, Lot: &memLotOp{}})
	return err
}

// Lottery implements LotteryStore.
func (s *MemStore) Lottery(_ context.Context, drop string) (LotteryInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.drops[drop]
	if !ok || md.lot == nil {
		return LotteryInfo{}, fmt.Errorf("lottery of drop %s: %w", drop, ErrNotFound)
	}
	return md.lot.infoNow(), nil
}
