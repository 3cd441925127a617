package checkout

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
)

// MemStore is the embedded Store: the same rules as RedisStore, held in
// memory, with every change appended to a journal on disk (group commit) and
// replayed on open. It serves one process (demo), where the control side and
// the edge share one instance.
type MemStore struct {
	logger *slog.Logger
	now    func() time.Time
	j      *Journal

	mu    sync.Mutex
	drops map[string]*memDrop
	ops   map[string]memOpResult
}

type memDrop struct {
	d        Drop
	skus     map[string]*memSKU
	leases   map[string]int   // lease field -> units
	leaseExp map[string]int64 // lease field -> deadline ms
	orders   map[string]Order
	pending  map[string]int64 // order id -> deadline ms
	buyers   map[string]int   // buyer field -> units
	log      []string         // order ids in the order they were recorded
}

type memSKU struct {
	sku                                                SKU
	stock, free, leased, sold, orders, paid, cancelled int
	revenue                                            int64
}

type memOpResult struct {
	G Grant `json:"g"`
	N int   `json:"n"`
}

// memOp is one journaled change; applying it again on replay gives the same
// state, because the time it happened is part of it.
type memOp struct {
	Kind   string        `json:"k"`
	NowMs  int64         `json:"t"`
	Drop   *Drop         `json:"d,omitempty"`
	ID     string        `json:"id,omitempty"`
	State  string        `json:"s,omitempty"`
	Lease  *LeaseOp      `json:"l,omitempty"`
	Item   *ShipItem     `json:"i,omitempty"`
	Reason string        `json:"r,omitempty"`
	Due    bool          `json:"due,omitempty"`
	TTL    time.Duration `json:"ttl,omitempty"`
}

var _ Store = (*MemStore)(nil)

// OpenMemStore opens the embedded store journaled at path; now is its clock
// (nil: time.Now).
func OpenMemStore(path string, now func() time.Time, logger *slog.Logger) (*MemStore, error) {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &MemStore{logger: logger.With("component", "checkout-memstore"), now: now, drops: map[string]*memDrop{}, ops: map[string]memOpResult{}}
	replayed := 0
	j, err := OpenJournal(path, func(rec []byte) error {
		var op memOp
		if err := json.Unmarshal(rec, &op); err != nil {
			return fmt.Errorf("decode store op: %w", err)
		}
		s.apply(op)
		replayed++
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	s.j = j
	for _, d := range j.Damage() {
		s.logger.Error("embedded store journal damaged: the intact ops around it are kept", "path", path,
			"offset", d.Offset, "bytes", d.Len, "reason", d.Reason, "tail", d.Tail, "saved_to", d.SavedTo)
	}
	s.logger.Info("embedded store opened", "path", path, "replayed_ops", replayed)
	return s, nil
}

// Close flushes the journal and closes it.
func (s *MemStore) Close() error { return s.j.Close() }

type memResult struct {
	err     error
	changed bool
	grant   Grant
	n       int
	res     ShipResult
}

// do applies op under the lock, journals it if it changed anything, and waits
// for the fsync before it answers.
func (s *MemStore) do(ctx context.Context, op memOp) (memResult, error) {
	op.NowMs = s.now().UnixMilli()
	s.mu.Lock()
	r := s.apply(op)
	var w Waiter
	var jerr error
	if r.changed {
		rec, err := json.Marshal(op)
		if err != nil {
			s.mu.Unlock()
			return r, fmt.Errorf("encode store op: %w", err)
		}
		w, jerr = s.j.Enqueue(rec)
	}
	s.mu.Unlock()
	if jerr != nil {
		return r, jerr
	}
	if r.changed {
		if err := w.Wait(ctx); err != nil {
			return r, err
		}
	}
	return r, r.err
}

func (s *MemStore) apply(op memOp) memResult {
	switch op.Kind {
	case "create":
		d := *op.Drop
		if _, ok := s.drops[d.ID]; ok {
			return memResult{err: fmt.Errorf("drop %s: %w", d.ID, ErrDropExists)}
		}
		d.State = StateCreated
		md := &memDrop{d: d, skus: map[string]*memSKU{}, leases: map[string]int{}, leaseExp: map[string]int64{},
			orders: map[string]Order{}, pending: map[string]int64{}, buyers: map[string]int{}}
		for _, k := range d.SKUs {
			md.skus[k.SKU] = &memSKU{sku: k, stock: k.Stock, free: k.Stock}
		}
		s.drops[d.ID] = md
		return memResult{changed: true}
	case "state":
		md, ok := s.drops[op.ID]
		if !ok {
			return memResult{err: fmt.Errorf("drop %s: %w", op.ID, ErrNotFound)}
		}
		cur, to := md.d.State, op.State
		if cur == to {
			return memResult{}
		}
		if (cur == StateCreated && (to == StateOpen || to == StateClosed)) || (cur == StateOpen && to == StateClosed) {
			md.d.State = to
			return memResult{changed: true}
		}
		return memResult{err: fmt.Errorf("drop %s is %s, cannot become %s: %w", op.ID, cur, to, ErrConflict)}
	case "grant":
		l := op.Lease
		md, sk, err := s.skuOf(l.Drop, l.SKU)
		if err != nil {
			return memResult{err: err}
		}
		if prev, ok := s.ops[l.Drop+"|"+l.OpID]; ok {
			return memResult{grant: prev.G}
		}
		f := leaseField(l.SKU, l.Edge)
		g := Grant{Lease: md.leases[f], Free: sk.free}
		if md.d.State != StateOpen {
			g.NotOpen = true
		} else if n := min(l.Units, sk.free-l.Threshold); n <= 0 {
			g.Direct = true
		} else {
			sk.free -= n
			sk.leased += n
			md.leases[f] += n
			md.leaseExp[f] = op.NowMs + l.TTL.Milliseconds()
			g = Grant{Units: n, Lease: md.leases[f], Free: sk.free}
		}
		s.ops[l.Drop+"|"+l.OpID] = memOpResult{G: g}
		return memResult{changed: true, grant: g}
	case "return":
		l := op.Lease
		md, sk, err := s.skuOf(l.Drop, l.SKU)
		if err != nil {
			return memResult{err: err}
		}
		if prev, ok := s.ops[l.Drop+"|"+l.OpID]; ok {
			return memResult{n: prev.N}
		}
		f := leaseField(l.SKU, l.Edge)
		n := max(0, min(l.Units, md.leases[f]))
		sk.free += n
		sk.leased -= n
		md.leases[f] -= n
		if md.leases[f] <= 0 {
			delete(md.leases, f)
			delete(md.leaseExp, f)
		}
		s.ops[l.Drop+"|"+l.OpID] = memOpResult{N: n}
		return memResult{changed: true, n: n}
	case "renew":
		l := op.Lease
		md, ok := s.drops[l.Drop]
		if !ok {
			return memResult{err: fmt.Errorf("drop %s: %w", l.Drop, ErrNotFound)}
		}
		f := leaseField(l.SKU, l.Edge)
		n, ok := md.leases[f]
		if !ok {
			return memResult{err: ErrLeaseGone}
		}
		md.leaseExp[f] = op.NowMs + l.TTL.Milliseconds()
		return memResult{changed: true, n: n}
	case "ship", "direct":
		return s.applySale(op)
	case "confirm":
		md, o, err := s.orderOf(op.ID)
		if err != nil {
			return memResult{err: err}
		}
		if o.Status != StatusPending {
			return memResult{res: ShipResult{Outcome: Outcome(o.Status), Order: o}}
		}
		o.Status = StatusPaid
		md.orders[o.ID] = o
		delete(md.pending, o.ID)
		md.skus[o.SKU].paid++
		return memResult{changed: true, res: ShipResult{Outcome: "paid", Order: o}}
	case "cancel":
		md, o, err := s.orderOf(op.ID)
		if err != nil {
			return memResult{err: err}
		}
		if o.Status != StatusPending {
			return memResult{res: ShipResult{Outcome: Outcome(o.Status), Order: o}}
		}
		if dl, ok := md.pending[o.ID]; op.Due && ok && dl > op.NowMs {
			return memResult{res: ShipResult{Outcome: "notdue", Order: o}}
		}
		o.Status, o.Reason = StatusCancelled, op.Reason
		sk := md.skus[o.SKU]
		sk.sold -= o.Qty
		sk.orders--
		sk.revenue -= o.TotalCents
		sk.free += o.Qty
		sk.cancelled++
		md.buyers[buyerField(o.SKU, o.Buyer)] -= o.Qty
		delete(md.pending, o.ID)
		md.orders[o.ID] = o
		return memResult{changed: true, res: ShipResult{Outcome: OutcomeCancelled, Order: o}}
	case "reclaim":
		l := op.Lease
		md, sk, err := s.skuOf(l.Drop, l.SKU)
		if err != nil {
			return memResult{err: err}
		}
		f := leaseField(l.SKU, l.Edge)
		dl, ok := md.leaseExp[f]
		if !ok || dl > op.NowMs {
			return memResult{}
		}
		n := md.leases[f]
		delete(md.leases, f)
		delete(md.leaseExp, f)
		sk.free += n
		sk.leased -= n
		return memResult{changed: true, n: n}
	}
	return memResult{err: fmt.Errorf("unknown store op %q", op.Kind)}
}

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
	bf := buyerField(o.SKU, o.Buyer)
	overLimit := it.MaxPerBuyer > 0 && md.buyers[bf]+o.Qty > it.MaxPerBuyer
	if op.Kind == "direct" {
		switch {
		case md.d.State != StateOpen:
			return memResult{res: ShipResult{Outcome: OutcomeNotOpen}}
		case overLimit:
			return memResult{res: ShipResult{Outcome: OutcomeLimit}}
		case sk.free < o.Qty && sk.leased > 0:
			return memResult{res: ShipResult{Outcome: OutcomeHeld}}
		case sk.free < o.Qty:
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
		} else if sk.free >= o.Qty {
			src = "free"
			sk.free -= o.Qty
		}
		reason := ""
		if src == "" {
			reason = "lease_expired"
		} else if overLimit {
			reason = "limit"
		}
		if reason != "" {
			if src != "" {
				sk.free += o.Qty
			}
			o.Status, o.Reason = StatusCancelled, reason
			sk.cancelled++
			md.orders[o.ID] = o
			md.log = append(md.log, o.ID)
			return memResult{changed: true, res: ShipResult{Outcome: OutcomeCancelled, Order: o}}
		}
	}
	sk.sold += o.Qty
	sk.orders++
	sk.revenue += o.TotalCents
	md.buyers[bf] += o.Qty
	md.pending[o.ID] = op.NowMs + it.Hold.Milliseconds()
	md.orders[o.ID] = o
	md.log = append(md.log, o.ID)
	return memResult{changed: true, res: ShipResult{Outcome: OutcomeCreated, Order: o}}
}

func (s *MemStore) skuOf(drop, sku string) (*memDrop, *memSKU, error) {
	md, ok := s.drops[drop]
	if !ok {
		return nil, nil, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	}
	sk, ok := md.skus[sku]
	if !ok {
		return nil, nil, fmt.Errorf("sku %s of drop %s: %w", sku, drop, ErrNotFound)
	}
	return md, sk, nil
}

func (s *MemStore) orderOf(id string) (*memDrop, Order, error) {
	drop, ok := DropOfOrder(id)
	if !ok {
		return nil, Order{}, fmt.Errorf("order %q: %w", id, ErrNotFound)
	}
	md, ok := s.drops[drop]
	if !ok {
		return nil, Order{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	o, ok := md.orders[id]
	if !ok {
		return nil, Order{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	return md, o, nil
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

// Drop implements Store.
func (s *MemStore) Drop(_ context.Context, id string) (Drop, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.drops[id]
	if !ok {
		return Drop{}, fmt.Errorf("drop %s: %w", id, ErrNotFound)
	}
	d := md.d
	d.SKUs = slices.Clone(d.SKUs)
	return d, nil
}

// Totals implements Store.
func (s *MemStore) Totals(_ context.Context, id string) (Totals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.drops[id]
	if !ok {
		return Totals{}, fmt.Errorf("drop %s: %w", id, ErrNotFound)
	}
	t := Totals{Drop: id, Stream: md.d.Stream, State: md.d.State}
	for _, k := range md.d.SKUs {
		sk := md.skus[k.SKU]
		t.SKUs = append(t.SKUs, SKUTotals{SKU: k.SKU, Currency: k.Currency, Stock: sk.stock, Free: sk.free,
			HeldAtEdges: sk.leased, Sold: sk.sold, Orders: sk.orders, Paid: sk.paid, Cancelled: sk.cancelled, RevenueCents: sk.revenue})
	}
	return t, nil
}

// View implements Store.
func (s *MemStore) View(_ context.Context, drop, edge string, skus []string) (DropView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.drops[drop]
	if !ok {
		return DropView{}, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	}
	v := DropView{State: md.d.State, SKUs: map[string]SKUView{}}
	for _, k := range skus {
		if sk, ok := md.skus[k]; ok {
			v.SKUs[k] = SKUView{Free: sk.free, Leased: sk.leased, MyLease: md.leases[leaseField(k, edge)]}
		}
	}
	return v, nil
}

// ListDrops implements Store.
func (s *MemStore) ListDrops(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.drops))
	for id := range s.drops {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
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

// SellDirect implements Store.
func (s *MemStore) SellDirect(ctx context.Context, it ShipItem) (ShipResult, error) {
	r, err := s.do(ctx, memOp{Kind: "direct", Item: &it})
	return r.res, err
}

// Order implements Store.
func (s *MemStore) Order(_ context.Context, id string) (Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, o, err := s.orderOf(id)
	return o, err
}

// OrdersSince implements Store; the cursor is a position in the drop's log.
func (s *MemStore) OrdersSince(_ context.Context, drop, cursor string, limit int) ([]string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.drops[drop]
	if !ok {
		return nil, cursor, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	}
	from := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 || n > len(md.log) {
			return nil, cursor, fmt.Errorf("order cursor %q: %w", cursor, ErrInvalid)
		}
		from = n
	}
	to := min(len(md.log), from+max(limit, 1))
	return slices.Clone(md.log[from:to]), strconv.Itoa(to), nil
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
