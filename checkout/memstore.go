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
	// byBuyer lists each buyer's orders of every drop in the order they
	// were recorded (BuyerOrders reads it newest first).
	byBuyer map[string][]memOrderRef
}

// memOrderRef names one recorded order in a buyer's list.
type memOrderRef struct {
	drop, id string
}

type memDrop struct {
	d        Drop
	skus     map[string]*memSKU
	leases   map[string]int   // lease field -> units
	leaseExp map[string]int64 // lease field -> deadline ms
	orders   map[string]Order
	pending  map[string]int64 // order id -> deadline ms
	used     map[string]int   // limit field (sku|limit key) -> units bought
	allow    map[string]memHold
	wanted   map[string]bool // holder|limit field -> wanted from that holder
	log      []string        // order ids in the order they were recorded
	rsvp     *memRSVP        // reserved units (memstore_rsvp.go); nil: none
	lot      *memLottery     // the opening lottery, once started (memstore_lottery.go)
}

type memSKU struct {
	sku                                                SKU
	stock, free, leased, sold, orders, paid, cancelled int
	refunded                                           int
	revenue                                            int64
	waitlist                                           int // units the lottery's waitlist waits for (memstore_waitlist.go)
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
	Allow  *AllowOp      `json:"a,omitempty"`
	TTL    time.Duration `json:"ttl,omitempty"`
	RSVP   *memRSVPOp    `json:"rv,omitempty"`
	Lot    *memLotOp     `json:"lot,omitempty"`
	// Restock: a refund's units go back to free stock (memstore_orders.go).
	Restock bool `json:"rs,omitempty"`
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
	s := &MemStore{logger: logger.With("component", "checkout-memstore"), now: now, drops: map[string]*memDrop{}, ops: map[string]memOpResult{},
		byBuyer: map[string][]memOrderRef{}}
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
	left    []int
	lot     memLotAnswer // lottery ops (memstore_lottery.go)
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
	t := Totals{Drop: id, Stream: md.d.Stream, State: md.d.State, MembersUntil: md.d.MembersUntil()}
	for _, k := range md.d.SKUs {
		sk := md.skus[k.SKU]
		t.SKUs = append(t.SKUs, SKUTotals{SKU: k.SKU, Currency: k.Currency, Stock: sk.stock, Free: sk.free,
			HeldAtEdges: sk.leased, Sold: sk.sold, Orders: sk.orders, Paid: sk.paid, Cancelled: sk.cancelled, Refunded: sk.refunded, RevenueCents: sk.revenue,
			Reserved: md.reservedOf(k.SKU), Waitlist: sk.waitlist})
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
	v := DropView{State: md.d.State, SKUs: map[string]SKUView{}, Wanted: md.wantedFrom(edge)}
	for _, k := range skus {
		if sk, ok := md.skus[k]; ok {
			v.SKUs[k] = SKUView{Free: sk.open(), Leased: sk.leased, MyLease: md.leases[leaseField(k, edge)]}
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

// record stores a newly recorded order (created or cancelled at once) in the
// drop's orders, its log and its buyer's list.
func (s *MemStore) record(md *memDrop, o Order, _ int64) {
	md.orders[o.ID] = o
	md.log = append(md.log, o.ID)
	s.byBuyer[o.Buyer] = append(s.byBuyer[o.Buyer], memOrderRef{drop: o.Drop, id: o.ID})
}

// BuyerOrders implements Store.
func (s *MemStore) BuyerOrders(_ context.Context, buyer string, limit int) ([]Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	refs := s.byBuyer[buyer]
	out := make([]Order, 0, min(len(refs), max(limit, 1)))
	for i := len(refs) - 1; i >= 0 && len(out) < max(limit, 1); i-- {
		if md, ok := s.drops[refs[i].drop]; ok {
			if o, ok := md.orders[refs[i].id]; ok {
				out = append(out, o)
			}
		}
	}
	return out, nil
}
