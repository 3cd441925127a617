package checkout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// EdgeParams builds an Edge.
type EdgeParams struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Config     Config
	// DataDir is the node's data dir; the journal lives in DataDir/checkout.
	DataDir string
	// EdgeID names this edge's leases; it must stay the same across restarts.
	EdgeID string
	Region string
	Store  Store
	// Payment overrides the provider chosen by Config.Payment (tests).
	Payment PaymentProvider
}

// Edge takes viewers' orders: it sells from leased units in memory, journals
// each order before it answers, ships journaled orders to the store, refills
// and returns leases, and runs payments. Create it with NewEdge; Run owns
// all its goroutines.
type Edge struct {
	cfg     Config
	logger  *slog.Logger
	store   Store
	pay     PaymentProvider
	m       *metrics
	id      string
	region  string
	journal string

	ready chan struct{}
	j     *Journal // set before ready is closed
	// gate: PlaceOrder holds it shared; the drain takes it to set closing,
	// so no accepted order is cut off half-way.
	gate    sync.RWMutex
	closing bool

	mu     sync.Mutex
	drops  map[string]*edgeDrop
	orders map[string]*edgeOrder

	shipMu    sync.Mutex
	unshipped []*edgeOrder
	shipKick  chan struct{}
	syncKick  chan struct{}
	payq      chan Order

	listedAt time.Time // owned by the sync loop

	limMu    sync.Mutex
	limiters map[string]*rate.Limiter

	subMu sync.Mutex
	subs  atomic.Pointer[[]*stockSub]
}

type edgeDrop struct {
	id string

	mu      sync.Mutex
	fetched bool
	d       Drop
	state   string
	stateAt time.Time
	skus    map[string]*edgeSKU
}

type edgeSKU struct {
	mu          sync.Mutex
	def         SKU
	avail       int       // leased units this edge may sell
	unshipped   int       // units sold from the lease, not yet shipped
	recovered   bool      // lease units known after a (re)start
	direct      bool      // store said: sell directly
	deadline    time.Time // sell from the lease only before this
	renewAt     time.Time
	soldTick    int
	rate        float64 // units per second, smoothed
	buyers      map[string]int
	grantOp     string
	grantUnits  int
	returnOp    string
	returnUnits int
	left        int
	view        SKUView   // the store's numbers at the last sync
	viewAt      time.Time // when; zero before the first sync
	notified    int       // left as last told to subscribers (-1: never)
}

type edgeOrder struct {
	o       Order
	done    chan struct{}
	err     error
	journal bool // sold from the lease (journaled, shipped later)
	shipped bool
	at      time.Time
}

type journalRec struct {
	K string `json:"k"`            // "o" order, "s" shipped
	O *Order `json:"o,omitempty"`  // order
	I string `json:"id,omitempty"` // shipped order id
}

// NewEdge checks the parameters and builds an Edge; Run starts it.
func NewEdge(p EdgeParams) (*Edge, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if !ValidID(p.EdgeID) {
		return nil, fmt.Errorf("checkout edge id %q: must be 1-%d of [A-Za-z0-9_-]: %w", p.EdgeID, MaxIDLen, ErrInvalid)
	}
	if p.Store == nil || p.Registerer == nil || p.DataDir == "" {
		return nil, fmt.Errorf("checkout edge: store, registerer and data dir are required: %w", ErrInvalid)
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(p.Registerer, p.EdgeID)
	if err != nil {
		return nil, fmt.Errorf("checkout metrics: %w", err)
	}
	pay := p.Payment
	if pay == nil {
		pay = NewTestProvider(p.Config.Payment)
	}
	return &Edge{
		cfg: p.Config, logger: p.Logger.With("component", "checkout-edge", "edge", p.EdgeID),
		store: p.Store, pay: pay, m: m, id: p.EdgeID, region: p.Region,
		journal:  filepath.Join(p.DataDir, "checkout", "edge-"+p.EdgeID+".journal"),
		ready:    make(chan struct{}),
		drops:    map[string]*edgeDrop{},
		orders:   map[string]*edgeOrder{},
		shipKick: make(chan struct{}, 1),
		syncKick: make(chan struct{}, 1),
		payq:     make(chan Order, 8192),
		limiters: map[string]*rate.Limiter{},
	}, nil
}

// Ready is closed once Run has replayed the journal and takes orders.
func (e *Edge) Ready() <-chan struct{} { return e.ready }

// ID is the edge id.
func (e *Edge) ID() string { return e.id }

// Run replays the journal, then ships orders, keeps leases filled and runs
// payments until ctx ends; then it stops taking orders, flushes the journal,
// ships what it can, returns its unsold lease units and returns.
func (e *Edge) Run(ctx context.Context) error {
	var replayed []*edgeOrder
	j, err := OpenJournal(e.journal, func(rec []byte) error {
		var r journalRec
		if err := json.Unmarshal(rec, &r); err != nil {
			return fmt.Errorf("decode journal record: %w", err)
		}
		switch r.K {
		case "o":
			if r.O == nil {
				return errors.New("order record without order")
			}
			eo := &edgeOrder{o: *r.O, done: make(chan struct{}), journal: true, at: time.Now()}
			close(eo.done)
			e.orders[r.O.ID] = eo
			replayed = append(replayed, eo)
		case "s":
			if eo, ok := e.orders[r.I]; ok {
				eo.shipped = true
			}
		}
		return nil
	}, e.observeJournal)
	if err != nil {
		return fmt.Errorf("checkout edge journal: %w", err)
	}
	e.j = j
	unshipped := 0
	for _, eo := range replayed {
		sk := e.dropEntry(eo.o.Drop).skuEntry(eo.o.SKU)
		sk.mu.Lock()
		sk.buyers[eo.o.Buyer] += eo.o.Qty
		if !eo.shipped {
			sk.unshipped += eo.o.Qty
		}
		sk.mu.Unlock()
		if !eo.shipped {
			e.unshipped = append(e.unshipped, eo)
			unshipped++
		}
	}
	e.logger.Info("checkout edge started", "journal", e.journal, "replayed_orders", len(replayed), "unshipped", unshipped)
	close(e.ready)

	var wg sync.WaitGroup
	wg.Add(2 + e.cfg.Payment.Workers)
	go func() { defer wg.Done(); e.shipLoop(ctx) }()
	go func() { defer wg.Done(); e.syncLoop(ctx) }()
	for range e.cfg.Payment.Workers {
		go func() { defer wg.Done(); e.payLoop(ctx) }()
	}
	<-ctx.Done()

	// Drain: refuse new orders, let accepted ones finish, then ship and
	// return leases with a bounded budget of their own.
	e.gate.Lock()
	e.closing = true
	e.gate.Unlock()
	wg.Wait()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for e.shipOnce(dctx) > 0 && dctx.Err() == nil {
	}
	e.returnAll(dctx)
	if err := j.Close(); err != nil {
		return fmt.Errorf("close journal: %w", err)
	}
	e.logger.Info("checkout edge stopped")
	return nil
}

func (e *Edge) observeJournal(batch int, d time.Duration) {
	e.m.batch.Observe(float64(batch))
	e.m.fsync.Observe(d.Seconds())
}

func (e *Edge) dropEntry(id string) *edgeDrop {
	e.mu.Lock()
	defer e.mu.Unlock()
	ed, ok := e.drops[id]
	if !ok {
		ed = &edgeDrop{id: id, skus: map[string]*edgeSKU{}}
		e.drops[id] = ed
	}
	return ed
}

func (ed *edgeDrop) skuEntry(s string) *edgeSKU {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	sk, ok := ed.skus[s]
	if !ok {
		sk = &edgeSKU{buyers: map[string]int{}, notified: -1}
		ed.skus[s] = sk
	}
	return sk
}

// dropFor returns the drop with its definition loaded.
func (e *Edge) dropFor(ctx context.Context, id string) (*edgeDrop, error) {
	e.mu.Lock()
	ed, ok := e.drops[id]
	e.mu.Unlock()
	if ok {
		ed.mu.Lock()
		f := ed.fetched
		ed.mu.Unlock()
		if f {
			return ed, nil
		}
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	d, err := e.store.Drop(cctx, id)
	if err != nil {
		return nil, err
	}
	ed = e.dropEntry(id)
	ed.load(d)
	return ed, nil
}

func (ed *edgeDrop) load(d Drop) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	ed.d, ed.state, ed.fetched, ed.stateAt = d, d.State, true, time.Now()
	for _, k := range d.SKUs {
		sk, ok := ed.skus[k.SKU]
		if !ok {
			sk = &edgeSKU{buyers: map[string]int{}, notified: -1}
			ed.skus[k.SKU] = sk
		}
		sk.mu.Lock()
		sk.def = k
		sk.left = k.Stock
		sk.mu.Unlock()
	}
}

// PlaceOrder accepts an order or says why not. The same drop, buyer and
// idempotency key always name the same order: a retry returns it.
func (e *Edge) PlaceOrder(ctx context.Context, req OrderRequest) (Order, error) {
	start := time.Now()
	o, path, err := e.placeOrder(ctx, req)
	e.m.orders.WithLabelValues(resultLabel(err)).Inc()
	if err == nil && path != "" {
		e.m.acceptLatency.WithLabelValues(path).Observe(time.Since(start).Seconds())
	}
	return o, err
}

func (e *Edge) placeOrder(ctx context.Context, req OrderRequest) (Order, string, error) {
	if err := req.Validate(); err != nil {
		return Order{}, "", err
	}
	select {
	case <-e.ready:
	default:
		return Order{}, "", fmt.Errorf("edge starting: %w", ErrUnavailable)
	}
	e.gate.RLock()
	defer e.gate.RUnlock()
	if e.closing {
		return Order{}, "", ErrClosed
	}
	if !e.allow(req.Buyer) {
		return Order{}, "", ErrRateLimited
	}
	id := OrderID(req.Drop, req.Buyer, req.IdempotencyKey)
	e.mu.Lock()
	if eo, ok := e.orders[id]; ok {
		e.mu.Unlock()
		select {
		case <-eo.done:
		case <-ctx.Done():
			return Order{}, "", fmt.Errorf("wait for the first attempt: %w", ErrUnavailable)
		}
		if eo.err != nil {
			return Order{}, "", eo.err
		}
		return e.current(eo), "", nil
	}
	eo := &edgeOrder{done: make(chan struct{}), at: time.Now()}
	e.orders[id] = eo
	e.mu.Unlock()

	o, path, err := e.accept(ctx, req, id, eo)
	if err != nil {
		e.mu.Lock()
		delete(e.orders, id)
		e.mu.Unlock()
		eo.err = err
	} else {
		e.mu.Lock()
		eo.o = o
		e.mu.Unlock()
		e.m.revenue.WithLabelValues(o.Currency).Add(float64(o.TotalCents))
	}
	close(eo.done)
	return o, path, err
}

func (e *Edge) current(eo *edgeOrder) Order {
	e.mu.Lock()
	defer e.mu.Unlock()
	return eo.o
}

func (e *Edge) accept(ctx context.Context, req OrderRequest, id string, eo *edgeOrder) (Order, string, error) {
	ed, err := e.dropFor(ctx, req.Drop)
	if err != nil {
		return Order{}, "", err
	}
	ed.mu.Lock()
	state := ed.state
	sk := ed.skus[req.SKU]
	ed.mu.Unlock()
	if state == StateCreated {
		// It may have opened since the last sync: buyers tap at the moment
		// it opens, so look again (closed is final and never looked up).
		cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
		d, err := e.store.Drop(cctx, req.Drop)
		cancel()
		if err == nil {
			ed.mu.Lock()
			ed.state, ed.stateAt = d.State, time.Now()
			state = d.State
			ed.mu.Unlock()
		}
	}
	if sk == nil {
		return Order{}, "", fmt.Errorf("sku %s of drop %s: %w", req.SKU, req.Drop, ErrNotFound)
	}
	if state != StateOpen {
		return Order{}, "", fmt.Errorf("drop %s is %s: %w", req.Drop, state, ErrNotOpen)
	}
	sk.mu.Lock()
	def := sk.def
	sk.mu.Unlock()
	if def.MaxPerBuyer > 0 && req.Qty > def.MaxPerBuyer {
		return Order{}, "", fmt.Errorf("qty %d > %d: %w", req.Qty, def.MaxPerBuyer, ErrLimit)
	}
	o := Order{
		ID: id, Drop: req.Drop, SKU: req.SKU, Qty: req.Qty, Buyer: req.Buyer,
		PriceCents: def.PriceCents, Currency: def.Currency, TotalCents: def.PriceCents * int64(req.Qty),
		Status: StatusPending, Edge: e.id, CreatedAt: time.Now().UTC(),
	}
	heldUntil := time.Now().Add(e.cfg.HeldWait)
	heldPoll := 5 * time.Millisecond
	for {
		ok, err := e.sellFromLease(sk, o)
		if err != nil {
			return Order{}, "", err
		}
		if ok {
			if err := e.journalOrder(o, sk, eo); err != nil {
				return Order{}, "", err
			}
			return o, "lease", nil
		}
		e.kickSync()
		if sk.soldOut(o.Qty) {
			return Order{}, "", ErrSoldOut
		}
		res, err := e.sellDirect(ctx, o, def)
		if err != nil {
			return Order{}, "", err
		}
		switch res.Outcome {
		case OutcomeCreated:
			sk.mu.Lock()
			sk.buyers[o.Buyer] += o.Qty
			sk.left = max(0, sk.left-o.Qty)
			sk.mu.Unlock()
			eo.shipped = true
			e.enqueuePayment(res.Order)
			return res.Order, "direct", nil
		case OutcomeExists, OutcomeDuplicate:
			eo.shipped = true
			return res.Order, "direct", nil
		case OutcomeNotOpen:
			return Order{}, "", fmt.Errorf("drop %s: %w", o.Drop, ErrNotOpen)
		case OutcomeLimit:
			return Order{}, "", ErrLimit
		case OutcomeSoldOut:
			return Order{}, "", ErrSoldOut
		case OutcomeHeld:
			// Other edges still hold units; they give them back within a sync.
			if time.Now().After(heldUntil) {
				return Order{}, "", ErrSoldOut
			}
			t := time.NewTimer(heldPoll)
			heldPoll = min(2*heldPoll, 50*time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return Order{}, "", fmt.Errorf("waiting for held units: %w", ErrSoldOut)
			}
		default:
			return Order{}, "", fmt.Errorf("direct sale: unexpected outcome %q", res.Outcome)
		}
	}
}

// sellFromLease takes the units from the lease if it can.
func (e *Edge) sellFromLease(sk *edgeSKU, o Order) (bool, error) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.def.MaxPerBuyer > 0 && sk.buyers[o.Buyer]+o.Qty > sk.def.MaxPerBuyer {
		return false, fmt.Errorf("buyer %s already has %d of %d: %w", o.Buyer, sk.buyers[o.Buyer], sk.def.MaxPerBuyer, ErrLimit)
	}
	if !sk.recovered || sk.avail < o.Qty || !time.Now().Before(sk.deadline) {
		return false, nil
	}
	sk.avail -= o.Qty
	sk.unshipped += o.Qty
	sk.soldTick += o.Qty
	sk.buyers[o.Buyer] += o.Qty
	sk.left = max(0, sk.left-o.Qty)
	if sk.avail < e.lowWater(sk) {
		e.kickSync()
	}
	return true, nil
}

// journalOrder makes the order durable, then queues it for shipping. On a
// journal failure the units go back to the lease.
func (e *Edge) journalOrder(o Order, sk *edgeSKU, eo *edgeOrder) error {
	rec, err := json.Marshal(journalRec{K: "o", O: &o})
	if err == nil {
		var w Waiter
		if w, err = e.j.Enqueue(rec); err == nil {
			// Wait regardless of the caller: once queued the record may
			// become durable, and then the order exists.
			err = w.Wait(context.Background())
		}
	}
	if err != nil {
		sk.mu.Lock()
		sk.avail += o.Qty
		sk.unshipped -= o.Qty
		sk.buyers[o.Buyer] -= o.Qty
		sk.mu.Unlock()
		return fmt.Errorf("journal order: %w", err)
	}
	e.mu.Lock()
	eo.o, eo.journal = o, true
	e.mu.Unlock()
	e.shipMu.Lock()
	e.unshipped = append(e.unshipped, eo)
	e.shipMu.Unlock()
	select {
	case e.shipKick <- struct{}{}:
	default:
	}
	return nil
}

func (e *Edge) sellDirect(ctx context.Context, o Order, def SKU) (ShipResult, error) {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	res, err := e.store.SellDirect(cctx, ShipItem{Order: o, MaxPerBuyer: def.MaxPerBuyer, Hold: e.cfg.HoldTime})
	if err != nil {
		if ClassOf(err) == ClassInternal {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return ShipResult{}, fmt.Errorf("no lease units at this edge and the store failed: %w", err)
	}
	return res, nil
}

func (e *Edge) allow(buyer string) bool {
	if e.cfg.RateLimitPerBuyer <= 0 {
		return true
	}
	e.limMu.Lock()
	defer e.limMu.Unlock()
	l, ok := e.limiters[buyer]
	if !ok {
		if len(e.limiters) > 100_000 {
			clear(e.limiters)
		}
		l = rate.NewLimiter(rate.Limit(e.cfg.RateLimitPerBuyer), e.cfg.RateLimitBurst)
		e.limiters[buyer] = l
	}
	return l.Allow()
}

func (e *Edge) kickSync() {
	select {
	case e.syncKick <- struct{}{}:
	default:
	}
}

// Order reads an order: the store's copy when it answers, else this edge's.
func (e *Edge) Order(ctx context.Context, id string) (Order, error) {
	if _, ok := DropOfOrder(id); !ok {
		return Order{}, fmt.Errorf("order id %q: %w", id, ErrNotFound)
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	o, err := e.store.Order(cctx, id)
	if err == nil {
		return o, nil
	}
	e.mu.Lock()
	eo, ok := e.orders[id]
	var local Order
	if ok {
		local = eo.o
	}
	e.mu.Unlock()
	if ok && local.ID != "" {
		return local, nil
	}
	return Order{}, err
}

// Totals reads a drop's live totals from the store.
func (e *Edge) Totals(ctx context.Context, drop string) (Totals, error) {
	if !ValidID(drop) {
		return Totals{}, fmt.Errorf("drop id: %w", ErrInvalid)
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	return e.store.Totals(cctx, drop)
}

// ---- shipping ----

func (e *Edge) shipLoop(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.shipKick:
		case <-t.C:
		}
		if backoff > 0 {
			bt := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				bt.Stop()
				return
			case <-bt.C:
			}
		}
		for {
			n := e.shipOnce(ctx)
			if n < 0 {
				backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
				break
			}
			backoff = 0
			if n == 0 {
				break
			}
		}
		e.updateLag()
	}
}

func (e *Edge) updateLag() {
	e.shipMu.Lock()
	n := len(e.unshipped)
	var lag time.Duration
	if n > 0 {
		lag = time.Since(e.unshipped[0].at)
	}
	e.shipMu.Unlock()
	e.m.unshipped.Set(float64(n))
	e.m.syncLag.Set(lag.Seconds())
}

const shipBatch = 256

// shipOnce ships up to one batch: it returns how many, or -1 on failure.
func (e *Edge) shipOnce(ctx context.Context) int {
	e.shipMu.Lock()
	n := min(len(e.unshipped), shipBatch)
	batch := append([]*edgeOrder(nil), e.unshipped[:n]...)
	e.shipMu.Unlock()
	if n == 0 {
		return 0
	}
	items := make([]ShipItem, n)
	for i, eo := range batch {
		o := e.current(eo)
		maxPer := 0
		if ed := e.dropEntry(o.Drop); ed != nil {
			sk := ed.skuEntry(o.SKU)
			sk.mu.Lock()
			maxPer = sk.def.MaxPerBuyer
			sk.mu.Unlock()
		}
		items[i] = ShipItem{Order: o, MaxPerBuyer: maxPer, Hold: e.cfg.HoldTime}
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	res, err := e.store.Ship(cctx, items)
	cancel()
	if err != nil {
		e.logger.Debug("ship orders failed", "orders", n, "err", err)
		return -1
	}
	for i, r := range res {
		e.shipped(batch[i], items[i].Order, r)
	}
	e.shipMu.Lock()
	e.unshipped = e.unshipped[n:]
	e.shipMu.Unlock()
	return n
}

func (e *Edge) shipped(eo *edgeOrder, o Order, r ShipResult) {
	e.m.shipped.WithLabelValues(string(r.Outcome)).Inc()
	sk := e.dropEntry(o.Drop).skuEntry(o.SKU)
	sk.mu.Lock()
	sk.unshipped -= o.Qty
	switch r.Outcome {
	case OutcomeDuplicate:
		// Another edge recorded this order first: our lease was not charged.
		sk.avail += o.Qty
		sk.buyers[o.Buyer] -= o.Qty
	case OutcomeCancelled:
		sk.buyers[o.Buyer] -= o.Qty
	}
	sk.mu.Unlock()
	e.mu.Lock()
	eo.o = r.Order
	eo.shipped = true
	e.mu.Unlock()
	if rec, err := json.Marshal(journalRec{K: "s", I: o.ID}); err == nil {
		_, _ = e.j.Enqueue(rec) // no wait: a lost marker only means a harmless re-ship
	}
	if (r.Outcome == OutcomeCreated || r.Outcome == OutcomeExists) && r.Order.Status == StatusPending {
		e.enqueuePayment(r.Order)
	}
}

// ---- leases ----

func (e *Edge) lowWater(sk *edgeSKU) int { return (e.want(sk) + 1) / 2 }

func (e *Edge) want(sk *edgeSKU) int {
	w := int(math.Ceil(sk.rate * e.cfg.LeaseWindow.Seconds()))
	return min(max(w, e.cfg.LeaseMin), e.cfg.LeaseMax)
}

// listEvery is how often the sync loop looks for new drops.
func (e *Edge) listEvery() time.Duration { return max(5*e.cfg.SyncInterval, 250*time.Millisecond) }

func (e *Edge) syncLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.SyncInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.syncKick:
		}
		now := time.Now()
		e.syncOnce(ctx, now.Sub(last))
		last = now
	}
}

func (e *Edge) syncOnce(ctx context.Context, elapsed time.Duration) {
	if time.Since(e.listedAt) >= e.listEvery() {
		// Learn new drops so leases are in place before the first buyer.
		cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
		ids, err := e.store.ListDrops(cctx)
		cancel()
		if err == nil {
			e.listedAt = time.Now()
			for _, id := range ids {
				if ValidID(id) {
					e.dropEntry(id)
				}
			}
		}
	}
	e.mu.Lock()
	drops := make([]*edgeDrop, 0, len(e.drops))
	for _, ed := range e.drops {
		drops = append(drops, ed)
	}
	e.mu.Unlock()
	for _, ed := range drops {
		e.syncDrop(ctx, ed, elapsed)
	}
}

func (e *Edge) syncDrop(ctx context.Context, ed *edgeDrop, elapsed time.Duration) {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	ed.mu.Lock()
	fetched := ed.fetched
	ed.mu.Unlock()
	if !fetched {
		d, err := e.store.Drop(cctx, ed.id)
		if err != nil {
			return
		}
		ed.load(d)
	}
	ed.mu.Lock()
	names := make([]string, 0, len(ed.skus))
	skus := make([]*edgeSKU, 0, len(ed.skus))
	for n, sk := range ed.skus {
		names = append(names, n)
		skus = append(skus, sk)
	}
	ed.mu.Unlock()
	v, err := e.store.View(cctx, ed.id, e.id, names)
	if err != nil {
		return
	}
	ed.mu.Lock()
	ed.state, ed.stateAt = v.State, time.Now()
	ed.mu.Unlock()
	held := 0
	for i, sk := range skus {
		e.syncSKU(cctx, ed.id, names[i], sk, v.State, v.SKUs[names[i]], elapsed)
		sk.mu.Lock()
		held += sk.avail
		sk.mu.Unlock()
	}
	e.m.leaseUnits.WithLabelValues(ed.id).Set(float64(held))
}

func (e *Edge) syncSKU(ctx context.Context, drop, name string, sk *edgeSKU, state string, v SKUView, elapsed time.Duration) {
	now := time.Now()
	sk.mu.Lock()
	if elapsed > 0 {
		inst := float64(sk.soldTick) / elapsed.Seconds()
		sk.rate = 0.7*sk.rate + 0.3*inst
		sk.soldTick = 0
	}
	sk.direct = v.Free <= e.cfg.DirectThreshold
	sk.view, sk.viewAt = v, now
	left := v.Free + max(0, v.Leased-v.MyLease) + sk.avail
	changed := left != sk.notified
	sk.left, sk.notified = left, left
	recovered, unshipped, avail := sk.recovered, sk.unshipped, sk.avail
	want := e.want(sk)
	renew := (avail > 0 || unshipped > 0) && now.After(sk.renewAt)
	sk.mu.Unlock()
	if changed {
		e.notify(StockLevel{Drop: drop, SKU: name, Left: left})
	}

	if !recovered {
		// After a start the store's lease is the truth, once every order
		// this edge sold from it is shipped.
		if unshipped > 0 {
			return
		}
		n, err := e.store.Renew(ctx, drop, name, e.id, e.cfg.LeaseTTL)
		if err != nil && !errors.Is(err, ErrLeaseGone) {
			return
		}
		sk.mu.Lock()
		sk.avail, sk.recovered = n, true
		sk.deadline = now.Add(e.leaseLife())
		sk.renewAt = now.Add(e.cfg.LeaseTTL / 3)
		sk.mu.Unlock()
		if n > 0 {
			e.logger.Info("lease recovered", "drop", drop, "sku", name, "units", n)
		}
		return
	}

	if state != StateOpen || sk.isDirect() {
		e.returnLease(ctx, drop, name, sk)
		return
	}
	if renew {
		n, err := e.store.Renew(ctx, drop, name, e.id, e.cfg.LeaseTTL)
		sk.mu.Lock()
		switch {
		case errors.Is(err, ErrLeaseGone):
			e.logger.Warn("lease reclaimed by the store", "drop", drop, "sku", name, "lost_units", sk.avail)
			sk.avail = 0
		case err == nil:
			sk.deadline = now.Add(e.leaseLife())
			sk.renewAt = now.Add(e.cfg.LeaseTTL / 3)
			_ = n
		}
		sk.mu.Unlock()
	}
	sk.mu.Lock()
	need := sk.grantOp != "" || sk.avail < (want+1)/2
	if need && sk.grantOp == "" {
		sk.grantOp = uuid.NewString()
		sk.grantUnits = want - sk.avail
	}
	op := LeaseOp{Drop: drop, SKU: name, Edge: e.id, OpID: sk.grantOp, Units: sk.grantUnits, Threshold: e.cfg.DirectThreshold, TTL: e.cfg.LeaseTTL}
	sk.mu.Unlock()
	if !need {
		return
	}
	g, err := e.store.Grant(ctx, op)
	if err != nil {
		return // retried next sync with the same op id
	}
	sk.mu.Lock()
	sk.grantOp = ""
	if g.Units > 0 {
		sk.avail += g.Units
		sk.deadline = now.Add(e.leaseLife())
		sk.renewAt = now.Add(e.cfg.LeaseTTL / 3)
		e.m.leaseRefills.Inc()
		e.m.leaseGrant.Observe(float64(g.Units))
	}
	sk.direct = g.Direct
	sk.mu.Unlock()
}

// leaseLife is how long after asking the edge may sell from a lease: less
// than its TTL in the store, so the store never reclaims units the edge may
// still sell.
func (e *Edge) leaseLife() time.Duration { return e.cfg.LeaseTTL * 8 / 10 }

// soldOut reports, from the last sync, that nothing is free and no edge
// holds a lease, so a direct sale would only say sold out: the answer comes
// from memory instead of the store (stale by at most a few sync intervals).
func (sk *edgeSKU) soldOut(qty int) bool {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return sk.avail < qty && !sk.viewAt.IsZero() && time.Since(sk.viewAt) < time.Second &&
		sk.view.Free < qty && sk.view.Leased == 0
}

func (sk *edgeSKU) isDirect() bool {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return sk.direct
}

// returnLease gives the unsold units of a lease back to the drop.
func (e *Edge) returnLease(ctx context.Context, drop, name string, sk *edgeSKU) {
	sk.mu.Lock()
	if sk.returnOp == "" {
		if sk.avail == 0 {
			sk.mu.Unlock()
			return
		}
		sk.returnOp, sk.returnUnits = uuid.NewString(), sk.avail
		sk.avail = 0
	}
	op := LeaseOp{Drop: drop, SKU: name, Edge: e.id, OpID: sk.returnOp, Units: sk.returnUnits}
	sk.mu.Unlock()
	n, err := e.store.Return(ctx, op)
	if err != nil {
		return // retried with the same op id
	}
	sk.mu.Lock()
	sk.returnOp = ""
	sk.mu.Unlock()
	e.logger.Debug("lease returned", "drop", drop, "sku", name, "units", n)
}

func (e *Edge) returnAll(ctx context.Context) {
	e.mu.Lock()
	drops := make([]*edgeDrop, 0, len(e.drops))
	for _, ed := range e.drops {
		drops = append(drops, ed)
	}
	e.mu.Unlock()
	for _, ed := range drops {
		ed.mu.Lock()
		skus := make(map[string]*edgeSKU, len(ed.skus))
		for n, sk := range ed.skus {
			skus[n] = sk
		}
		ed.mu.Unlock()
		for n, sk := range skus {
			sk.mu.Lock()
			ok := sk.recovered && sk.unshipped == 0
			sk.mu.Unlock()
			if ok {
				e.returnLease(ctx, ed.id, n, sk)
			}
		}
	}
}

// ---- payment ----

func (e *Edge) enqueuePayment(o Order) {
	select {
	case e.payq <- o:
	default:
		// The hold expires and the units come back; say so once in a while.
		e.m.payments.WithLabelValues("queue_full").Inc()
	}
}

func (e *Edge) payLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-e.payq:
			e.payOne(ctx, o)
		}
	}
}

func (e *Edge) payOne(ctx context.Context, o Order) {
	auth, err := e.pay.Authorize(ctx, PaymentRequest{OrderID: o.ID, Buyer: o.Buyer, AmountCents: o.TotalCents, Currency: o.Currency})
	if errors.Is(err, ErrPaymentDeclined) {
		e.m.payments.WithLabelValues("declined").Inc()
		e.retry(ctx, func(ctx context.Context) error {
			_, err := e.store.Cancel(ctx, o.ID, "payment_declined")
			return err
		})
		return
	}
	if err == nil {
		err = e.pay.Capture(ctx, auth)
	}
	if err != nil {
		// Not confirmed: the hold expires and the units come back.
		e.m.payments.WithLabelValues("error").Inc()
		return
	}
	var got Order
	e.retry(ctx, func(ctx context.Context) error {
		var err error
		got, err = e.store.ConfirmPayment(ctx, o.ID)
		return err
	})
	switch got.Status {
	case StatusPaid:
		e.m.payments.WithLabelValues("paid").Inc()
	case StatusCancelled:
		// The hold expired first: give the money back.
		if err := e.pay.Refund(ctx, auth); err != nil {
			e.logger.Error("refund failed", "order", o.ID, "err", err)
			e.m.payments.WithLabelValues("error").Inc()
			return
		}
		e.m.payments.WithLabelValues("refunded").Inc()
	}
}

// retry runs f with bounded backoff until it succeeds, fails for good, or
// ctx ends.
func (e *Edge) retry(ctx context.Context, f func(context.Context) error) {
	backoff := 20 * time.Millisecond
	for attempt := 0; attempt < 50; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
		err := f(cctx)
		cancel()
		if err == nil || ClassOf(err) != ClassUnavailable {
			if err != nil {
				e.logger.Warn("payment bookkeeping failed", "err", err)
			}
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// ---- stock levels for overlays ----

// StockLevel is the units of a SKU left as this edge sees them.
type StockLevel struct {
	Drop string `json:"drop"`
	SKU  string `json:"sku"`
	Left int    `json:"left"`
}

type stockSub struct{ fn func(StockLevel) }

// StockLeft returns the units left per SKU of drop as this edge sees them
// (free in the store at the last sync, plus what edges hold unsold).
func (e *Edge) StockLeft(drop string) map[string]int {
	e.mu.Lock()
	ed, ok := e.drops[drop]
	e.mu.Unlock()
	out := map[string]int{}
	if !ok {
		return out
	}
	ed.mu.Lock()
	defer ed.mu.Unlock()
	for n, sk := range ed.skus {
		sk.mu.Lock()
		out[n] = sk.left
		sk.mu.Unlock()
	}
	return out
}

// OnStock calls fn whenever a SKU's units left change (at most once per sync
// interval per SKU). fn must not block. The returned func unsubscribes.
func (e *Edge) OnStock(fn func(StockLevel)) (unsubscribe func()) {
	s := &stockSub{fn: fn}
	e.subMu.Lock()
	defer e.subMu.Unlock()
	var cur []*stockSub
	if p := e.subs.Load(); p != nil {
		cur = *p
	}
	next := append(append([]*stockSub(nil), cur...), s)
	e.subs.Store(&next)
	return func() {
		e.subMu.Lock()
		defer e.subMu.Unlock()
		cur := *e.subs.Load()
		next := make([]*stockSub, 0, len(cur))
		for _, x := range cur {
			if x != s {
				next = append(next, x)
			}
		}
		e.subs.Store(&next)
	}
}

func (e *Edge) notify(l StockLevel) {
	p := e.subs.Load()
	if p == nil {
		return
	}
	for _, s := range *p {
		s.fn(l)
	}
}
