package checkout

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The edge side of checkout is one type, Edge, whose jobs live in files of
// their own: edge_orders.go accepts orders, edge_journal.go makes them
// durable, edge_ship.go ships them to the store, edge_lease.go keeps leases
// filled and returns them, edge_pay.go runs payments, edge_limits.go rate-limits
// buyers, devices and addresses, edge_allow.go holds purchase limits across
// edges, edge_rsvp.go sells reserved units to RSVP token holders and
// edge_stock.go tells subscribers what is left. This file holds
// its construction, its lifecycle and the per-drop state the jobs share.

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
	// RateClock is the rate limiters' clock (nil: time.Now; tests).
	RateClock func() time.Time
	// RSVP verifies RSVP tokens (edge_rsvp.go); nil: orders with one are refused.
	RSVP *RSVPKeys
	// Now is the clock member early access is checked against (nil:
	// time.Now; tests).
	Now func() time.Time
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
	jr    edgeJournal
	jm    *journalMetrics
	past  pastIDs // orders accepted before the last checkpoint, which the store has
	// gate: PlaceOrder holds it shared; the drain takes it to set closing,
	// so no accepted order is cut off half-way.
	gate    sync.RWMutex
	closing bool

	dropsMu sync.Mutex
	drops   map[string]*edgeDrop

	book     orderBook
	ship     shipQueue
	rate     *rateLimits
	rsvp     *edgeRSVP
	subs     stockSubs
	syncKick chan struct{}
	payq     chan Order
	prepq    chan prepared // Prepare's hints, taken by the sync loop

	// Owned by the sync loop: the last allowance sweep, the hints Prepare
	// gave, and per drop that just opened the cursor of those to prepare
	// again.
	sweptAt   time.Time
	recent    recentPrepared
	reprepare map[string]int

	listedAt time.Time // owned by the sync loop

	now          func() time.Time       // member early access (members.go)
	memberOrders *prometheus.CounterVec // members.go
}

// edgeDrop is what the edge knows of one drop; mu guards its fields and the
// skus map (each SKU has its own lock).
type edgeDrop struct {
	id string

	mu      sync.Mutex
	fetched bool
	d       Drop
	state   string
	stateAt time.Time
	skus    map[string]*edgeSKU

	// The index: every order id of the drop as the store had it after the
	// view of knownFor (zero: no complete index), read incrementally from
	// knownCur. It lets a refusal be answered from memory (edge_orders.go).
	known    map[string]struct{}
	knownCur string
	knownFor time.Time
}

// edgeSKU is one SKU's lease and counters at this edge; mu guards them all.
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
	rate        float64               // units per second, smoothed
	allow       map[string]*allowance // by limit key (edge_allow.go)
	grantOp     string
	grantUnits  int
	returnOp    string
	returnUnits int
	left        int
	view        SKUView       // the store's numbers at the last sync
	viewAt      time.Time     // when; zero before the first sync
	notified    int           // left as last told to subscribers (-1: never)
	synced      chan struct{} // closed by the next sync's view (nil: nobody waits)
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
	if p.RateClock == nil {
		p.RateClock = time.Now
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	memberOrders, err := newMemberOrders(p.Registerer, p.EdgeID)
	if err != nil {
		return nil, fmt.Errorf("checkout metrics: %w", err)
	}
	jm, err := newJournalMetrics(p.Registerer, p.EdgeID)
	if err != nil {
		return nil, fmt.Errorf("checkout metrics: %w", err)
	}
	rsvp, err := newEdgeRSVP(p.Registerer, p.EdgeID, p.RSVP)
	if err != nil {
		return nil, fmt.Errorf("checkout metrics: %w", err)
	}
	pay := p.Payment
	if pay == nil {
		pay = NewTestProvider(p.Config.Payment)
	}
	return &Edge{
		cfg: p.Config, logger: p.Logger.With("component", "checkout-edge", "edge", p.EdgeID),
		store: p.Store, pay: pay, m: m, jm: jm, id: p.EdgeID, region: p.Region, now: p.Now, memberOrders: memberOrders,
		journal: filepath.Join(p.DataDir, "checkout", "edge-"+p.EdgeID+".journal"),
		ready:   make(chan struct{}),
		drops:   map[string]*edgeDrop{},
		book:    orderBook{orders: map[string]*edgeOrder{}},
		ship:    shipQueue{kick: make(chan struct{}, 1)},
		rate: newRateLimits(p.RateClock,
			RateLimit{p.Config.RateLimitPerBuyer, p.Config.RateLimitBurst},
			RateLimit{p.Config.RateLimitPerDevice, p.Config.RateLimitBurst},
			RateLimit{p.Config.RateLimitPerIP, p.Config.RateLimitIPBurst}),
		rsvp:      rsvp,
		syncKick:  make(chan struct{}, 1),
		payq:      make(chan Order, 8192),
		prepq:     make(chan prepared, 8192),
		reprepare: map[string]int{},
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
	j, err := e.replay()
	if err != nil {
		return err
	}
	e.j = j
	close(e.ready)

	var wg sync.WaitGroup
	wg.Add(3 + e.cfg.Payment.Workers)
	go func() { defer wg.Done(); e.shipLoop(ctx) }()
	go func() { defer wg.Done(); e.checkpointLoop(ctx) }()
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
	e.releaseAll(dctx)
	if err := j.Close(); err != nil {
		return fmt.Errorf("close journal: %w", err)
	}
	e.logger.Info("checkout edge stopped")
	return nil
}

func (e *Edge) dropEntry(id string) *edgeDrop {
	e.dropsMu.Lock()
	defer e.dropsMu.Unlock()
	ed, ok := e.drops[id]
	if !ok {
		ed = &edgeDrop{id: id, skus: map[string]*edgeSKU{}}
		e.drops[id] = ed
	}
	return ed
}

// dropList is every drop the edge knows, for the loops that visit them all.
func (e *Edge) dropList() []*edgeDrop {
	e.dropsMu.Lock()
	defer e.dropsMu.Unlock()
	drops := make([]*edgeDrop, 0, len(e.drops))
	for _, ed := range e.drops {
		drops = append(drops, ed)
	}
	return drops
}

func (ed *edgeDrop) skuEntry(s string) *edgeSKU {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	sk, ok := ed.skus[s]
	if !ok {
		sk = &edgeSKU{allow: map[string]*allowance{}, notified: -1}
		ed.skus[s] = sk
	}
	return sk
}

// skuList returns the drop's SKUs with their names, for the sync loop.
func (ed *edgeDrop) skuList() ([]string, []*edgeSKU) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	names := make([]string, 0, len(ed.skus))
	skus := make([]*edgeSKU, 0, len(ed.skus))
	for n, sk := range ed.skus {
		names = append(names, n)
		skus = append(skus, sk)
	}
	return names, skus
}

// dropFor returns the drop with its definition loaded.
func (e *Edge) dropFor(ctx context.Context, id string) (*edgeDrop, error) {
	e.dropsMu.Lock()
	ed, ok := e.drops[id]
	e.dropsMu.Unlock()
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
			sk = &edgeSKU{allow: map[string]*allowance{}, notified: -1}
			ed.skus[k.SKU] = sk
		}
		sk.mu.Lock()
		sk.def = k
		sk.left = k.Stock
		sk.mu.Unlock()
	}
}

// stateAndSKU reads the drop's state as of the last sync and one SKU (nil if
// the drop has no such SKU).
func (ed *edgeDrop) stateAndSKU(sku string) (string, *edgeSKU) {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return ed.state, ed.skus[sku]
}

func (ed *edgeDrop) setState(state string) {
	ed.mu.Lock()
	ed.state, ed.stateAt = state, time.Now()
	ed.mu.Unlock()
}

// nextView returns a channel closed when the next sync has read the store's
// view of this SKU.
func (sk *edgeSKU) nextView() <-chan struct{} {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.synced == nil {
		sk.synced = make(chan struct{})
	}
	return sk.synced
}

func (sk *edgeSKU) definition() SKU {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return sk.def
}
