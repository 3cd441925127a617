package checkout

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// 200k subjects pass through one limiter over ten simulated minutes: it
// keeps only the recent ones, and a subject that keeps hammering is limited
// throughout (its bucket is never reset by the eviction).
func TestRateLimitsEvictLosslessly(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newRateLimits(clk.now, RateLimit{PerSec: 5, Burst: 10}, RateLimit{PerSec: 5, Burst: 10}, RateLimit{})
	hogAllowed, peak := 0, 0
	const sessions = 200_000
	start := clk.now()
	for i := range sessions {
		clk.add(3 * time.Millisecond)
		if l.allow(fmt.Sprint("b", i), fmt.Sprint("d", i), "10.0.0.1") != "" {
			t.Fatalf("a new subject %d was limited", i)
		}
		if l.allow("hog", "hog-phone", "") == "" {
			hogAllowed++
		}
		if i%1000 == 0 {
			n := l.entries()
			peak = max(peak, n[0], n[1])
		}
	}
	elapsed := clk.now().Sub(start)
	// The hog gets its burst and then the rate, never a fresh bucket.
	if most := 10 + int(elapsed.Seconds()*5) + 1; hogAllowed > most {
		t.Fatalf("hog allowed %d orders in %v, at most %d without a reset", hogAllowed, elapsed, most)
	}
	if hogAllowed < int(elapsed.Seconds()*5)/2 {
		t.Fatalf("hog allowed only %d orders in %v", hogAllowed, elapsed)
	}
	// Two refill times (2 s each) of arrivals every 3 ms, and the hog.
	if peak > 2*2000/3+10 {
		t.Fatalf("limiters held peaked at %d", peak)
	}
	if n := l.entries(); n[2] != 0 {
		t.Fatalf("the IP limit is off but holds %d limiters", n[2])
	}
	clk.add(10 * time.Second)
	l.sweep()
	if n := l.entries(); n[0] != 0 || n[1] != 0 {
		t.Fatalf("after 10 idle seconds %v limiters are left", n)
	}
}

// limitDrop is a drop whose tee has the given per-buyer, per-device and
// per-IP limits.
func limitDrop(id string, stock, perBuyer, perDevice, perIP int) Drop {
	d := testDrop(id, stock, perBuyer)
	d.SKUs[0].MaxPerDevice, d.SKUs[0].MaxPerIP = perDevice, perIP
	return d
}

// place orders as a client does: a held answer ("try again") is retried
// with the same key until a definitive one.
func place(t *testing.T, e *Edge, req OrderRequest) (Order, error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := e.PlaceOrder(context.Background(), req)
		if ClassOf(err) != ClassHeld || time.Now().After(deadline) {
			return o, err
		}
		time.Sleep(e.RetryHint())
	}
}

// withLeases starts n edges and waits until each holds a lease of drop.
func withLeases(t *testing.T, h *harness, cfg Config, drop string, ids ...string) []*Edge {
	t.Helper()
	var edges []*Edge
	for _, id := range ids {
		edges = append(edges, h.edge(t, id, cfg, nil))
	}
	eventually(t, 5*time.Second, "a lease at every edge", func() bool {
		for _, e := range edges {
			sk := e.dropEntry(drop).skuEntry("tee")
			sk.mu.Lock()
			n := sk.avail
			sk.mu.Unlock()
			if n == 0 {
				return false
			}
		}
		return true
	})
	return edges
}

// One buyer orders many times at once through three edges that all hold
// leases: the buyer's limit holds in total, every answer is an order or
// "over the limit", and the store's books agree.
func TestEdgeLimitHeldAcrossThreeEdges(t *testing.T) {
	for name, s := range stores(t) {
		for _, path := range []string{"lease", "direct"} {
			t.Run(name+"/"+path, func(t *testing.T) {
				limitAcrossThreeEdges(t, s, name+"-"+path, path == "direct")
			})
		}
	}
}

// limitAcrossThreeEdges sells from leases, or (direct) straight against the
// store, every edge keeping none.
func limitAcrossThreeEdges(t *testing.T, s Store, name string, direct bool) {
	cfg := testConfig()
	cfg.LeaseMin = 20
	if direct {
		cfg.DirectThreshold = MaxStock
	}
	h := newHarnessOn(t, cfg, s)
	drop := "three-" + name
	h.open(t, limitDrop(drop, 300, 3, 0, 0))
	var edges []*Edge
	if direct {
		edges = []*Edge{h.edge(t, "x1", cfg, nil), h.edge(t, "x2", cfg, nil), h.edge(t, "x3", cfg, nil)}
	} else {
		edges = withLeases(t, h, cfg, drop, "x1", "x2", "x3")
	}
	var (
		wg       sync.WaitGroup
		accepted atomic.Int64
		limited  atomic.Int64
	)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := place(t, edges[i%3], OrderRequest{Drop: drop, SKU: "tee", Qty: 1, Buyer: "alice", IdempotencyKey: fmt.Sprint("k", i)})
			switch {
			case err == nil:
				accepted.Add(int64(o.Qty))
			case errors.Is(err, ErrLimit):
				limited.Add(1)
			default:
				t.Errorf("order %d at %s: %v", i, edges[i%3].ID(), err)
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != 3 || limited.Load() != 27 {
		t.Fatalf("alice got %d units and %d refusals through three edges, want 3 and 27", accepted.Load(), limited.Load())
	}
	tt := settled(t, h.store, drop, 3)
	if tt.Cancelled != 0 {
		t.Fatalf("an accepted order was cancelled at the store: %+v", tt)
	}
	mine, err := edges[0].BuyerOrders(context.Background(), "alice")
	n := 0
	for _, o := range mine {
		if o.Drop == drop {
			n++
		}
	}
	if err != nil || n != 3 {
		t.Fatalf("alice's orders of %s: %d %v, want 3", drop, n, err)
	}
}

// A buyer buys at one edge, which then holds the buyer's allowance, and
// moves to another edge: the order there is answered within HeldWait (the
// order, or "try again"), and the retry gets it; never a wrong refusal.
func TestEdgeBuyerMovesToAnotherEdge(t *testing.T) {
	cfg := testConfig()
	cfg.LeaseMin = 20
	cfg.HeldWait = 150 * time.Millisecond
	h := newHarness(t, cfg)
	h.open(t, limitDrop("move", 300, 3, 0, 0))
	edges := withLeases(t, h, cfg, "move", "m1", "m2")
	req := func(key string) OrderRequest {
		return OrderRequest{Drop: "move", SKU: "tee", Qty: 1, Buyer: "bea", IdempotencyKey: key}
	}
	if _, err := edges[0].PlaceOrder(context.Background(), req("a")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	o, err := edges[1].PlaceOrder(context.Background(), req("b"))
	took := time.Since(start)
	if took > cfg.HeldWait+100*time.Millisecond {
		t.Fatalf("the order at the second edge took %v (held_wait %v)", took, cfg.HeldWait)
	}
	if err != nil && ClassOf(err) != ClassHeld {
		t.Fatalf("the order at the second edge: %v, want the order or held", err)
	}
	if err != nil {
		if o, err = place(t, edges[1], req("b")); err != nil {
			t.Fatalf("the retry at the second edge: %v", err)
		}
	}
	t.Logf("first answer at the second edge after %v (order %s)", took, o.ID)
	// And back again for the last unit; then the limit holds everywhere.
	if _, err := place(t, edges[0], req("c")); err != nil {
		t.Fatalf("third unit back at the first edge: %v", err)
	}
	for i, e := range edges {
		if _, err := place(t, e, req(fmt.Sprint("d", i))); !errors.Is(err, ErrLimit) {
			t.Fatalf("fourth unit at %s: %v, want ErrLimit", e.ID(), err)
		}
	}
	if tt := settled(t, h.store, "move", 3); tt.Cancelled != 0 {
		t.Fatalf("cancelled at the store: %+v", tt)
	}
	if n := testutil.ToFloat64(edges[0].m.allowance.WithLabelValues("returned")) + testutil.ToFloat64(edges[1].m.allowance.WithLabelValues("returned")); n < 1 {
		t.Fatalf("no allowance was handed back (returned=%v)", n)
	}
}

// Six made-up device ids do not make one buyer six buyers, and six made-up
// buyer names on one device are still one device.
func TestEdgeSixDevicesOneBuyer(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.open(t, limitDrop("six", 100, 2, 3, 0))
	edges := withLeases(t, h, cfg, "six", "s1", "s2", "s3")
	got := 0
	for i := range 6 {
		if _, err := place(t, edges[i%3], OrderRequest{Drop: "six", SKU: "tee", Qty: 1, Buyer: "sam", Device: fmt.Sprint("made-up-", i), IdempotencyKey: fmt.Sprint("k", i)}); err == nil {
			got++
		} else if !errors.Is(err, ErrLimit) {
			t.Fatal(err)
		}
	}
	if got != 2 {
		t.Fatalf("one buyer on six devices got %d units, want 2", got)
	}
	got = 0
	for i := range 6 {
		if _, err := place(t, edges[i%3], OrderRequest{Drop: "six", SKU: "tee", Qty: 1, Buyer: fmt.Sprint("alias", i), Device: "one-phone", IdempotencyKey: "k"}); err == nil {
			got++
		} else if !errors.Is(err, ErrLimit) || !containsKind(err, KindDevice) {
			t.Fatalf("alias %d: %v, want the device limit", i, err)
		}
	}
	if got != 3 {
		t.Fatalf("six buyer names on one device got %d units, want 3", got)
	}
	if n := testutil.ToFloat64(edges[0].m.limitRefusals.WithLabelValues(KindDevice)) + testutil.ToFloat64(edges[1].m.limitRefusals.WithLabelValues(KindDevice)) +
		testutil.ToFloat64(edges[2].m.limitRefusals.WithLabelValues(KindDevice)); n != 3 {
		t.Fatalf("device refusals counted %v, want 3", n)
	}
	settled(t, h.store, "six", 5)
}

// containsKind reports whether a limit refusal names kind ("this device may buy ...").
func containsKind(err error, kind string) bool {
	return err != nil && strings.Contains(err.Error(), "this "+kind+" ")
}

// A venue's Wi-Fi: many buyers behind one address, with a generous per-IP
// limit, through two edges; another address is not affected.
func TestEdgePerIPLimit(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.open(t, limitDrop("wifi", 100, 2, 0, 5))
	edges := withLeases(t, h, cfg, "wifi", "w1", "w2")
	got := 0
	for i := range 8 {
		_, err := place(t, edges[i%2], OrderRequest{Drop: "wifi", SKU: "tee", Qty: 1, Buyer: fmt.Sprint("fan", i), IP: "198.51.100.7", IdempotencyKey: "k"})
		switch {
		case err == nil:
			got++
		case errors.Is(err, ErrLimit) && containsKind(err, KindIP):
		default:
			t.Fatalf("fan %d: %v", i, err)
		}
	}
	if got != 5 {
		t.Fatalf("eight buyers behind one address got %d units, want 5", got)
	}
	if _, err := place(t, edges[0], OrderRequest{Drop: "wifi", SKU: "tee", Qty: 2, Buyer: "elsewhere", IP: "203.0.113.9", IdempotencyKey: "k"}); err != nil {
		t.Fatalf("a buyer at another address: %v", err)
	}
	settled(t, h.store, "wifi", 7)
}

// countingStore counts the allowance calls a real store gets.
type countingStore struct {
	Store
	allows atomic.Int64
}

func (c *countingStore) Allow(ctx context.Context, op AllowOp) ([]int, error) {
	c.allows.Add(1)
	return c.Store.Allow(ctx, op)
}

// Prepare leases a new buyer's allowances in the sync loop, in bulk, so the
// first order makes no allowance round trip.
func TestEdgePrepareAcquiresInBulk(t *testing.T) {
	cfg := testConfig()
	inner := newHarness(t, cfg).store
	cs := &countingStore{Store: inner}
	h := newHarnessOn(t, cfg, cs)
	h.open(t, limitDrop("prep", 100, 2, 2, 50))
	e := withLeases(t, h, cfg, "prep", "p1")[0]
	before := cs.allows.Load()
	for i := range 50 {
		e.Prepare(fmt.Sprint("new", i), fmt.Sprint("dev", i), "192.0.2.1")
	}
	eventually(t, 5*time.Second, "prepared allowances", func() bool {
		return testutil.ToFloat64(e.m.allowance.WithLabelValues("granted")) >= 101 // 50 buyers, 50 devices, one address
	})
	if n := cs.allows.Load() - before; n > 3 {
		t.Fatalf("preparing 50 buyers took %d allowance calls, want one per sync", n)
	}
	before = cs.allows.Load()
	for i := range 50 {
		if _, err := e.PlaceOrder(context.Background(), OrderRequest{Drop: "prep", SKU: "tee", Qty: 1, Buyer: fmt.Sprint("new", i), Device: fmt.Sprint("dev", i), IP: "192.0.2.1", IdempotencyKey: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.allows.Load() - before; n != 0 {
		t.Fatalf("prepared buyers' first orders made %d allowance calls, want 0", n)
	}
	// Unprepared: the first order acquires inline, once.
	before = cs.allows.Load()
	if _, err := e.PlaceOrder(context.Background(), OrderRequest{Drop: "prep", SKU: "tee", Qty: 1, Buyer: "cold", IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if n := cs.allows.Load() - before; n != 1 {
		t.Fatalf("an unprepared first order made %d allowance calls, want 1", n)
	}
	settled(t, h.store, "prep", 51)
}

// 200k distinct buyer sessions come to one edge during a drop (simulated
// time: a session every 3 ms). The edge's limit state stays bounded, and a
// buyer at the limit is refused throughout: evicting never resets a limit.
func TestEdge200kSessionsBoundedMemory(t *testing.T) {
	cfg := testConfig()
	cfg.RateLimitPerBuyer, cfg.RateLimitPerDevice, cfg.RateLimitPerIP, cfg.RateLimitIPBurst = 5, 5, 0, 200
	h := newHarness(t, cfg)
	h.open(t, limitDrop("crowd", 10_000, 2, 0, 0))
	clk := &fakeClock{t: time.Now()}
	e, err := NewEdge(EdgeParams{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Config: cfg,
		DataDir: t.TempDir(), EdgeID: "crowd", Store: h.store, RateClock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e.Run)
	<-e.Ready()
	for _, k := range []string{"a", "b"} {
		if _, err := place(t, e, OrderRequest{Drop: "crowd", SKU: "tee", Qty: 1, Buyer: "maxed", IdempotencyKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapAlloc
	peak := 0
	const sessions = 200_000
	for i := range sessions {
		clk.add(3 * time.Millisecond)
		req := OrderRequest{Drop: "crowd", SKU: "tee", Qty: 3, Buyer: fmt.Sprint("s", i), Device: fmt.Sprint("dev", i), IP: fmt.Sprint("10.0.", i%250, ".1"), IdempotencyKey: "k"}
		if i%100 == 0 {
			req.Qty = 1 // one in a hundred buys
		}
		if _, err := e.PlaceOrder(context.Background(), req); err != nil && !errors.Is(err, ErrLimit) {
			t.Fatalf("session %d: %v", i, err)
		}
		if i%1000 == 500 {
			// The buyer at the limit, again and again, with new keys.
			if _, err := e.PlaceOrder(context.Background(), OrderRequest{Drop: "crowd", SKU: "tee", Qty: 1, Buyer: "maxed", IdempotencyKey: fmt.Sprint("again", i)}); !errors.Is(err, ErrLimit) {
				t.Fatalf("the buyer at the limit, after %d sessions: %v, want ErrLimit", i, err)
			}
			n := e.rate.entries()
			peak = max(peak, n[0]+n[1])
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grew := int64(ms.HeapAlloc) - int64(heap0)
	t.Logf("200k sessions: rate limiters peaked at %d, allowances now %d, heap grew %d KiB", peak, e.allowEntries(), grew/1024)
	if peak > 2*(2*2000/3)+20 {
		t.Fatalf("rate limiters peaked at %d entries", peak)
	}
	if grew > 32<<20 {
		t.Fatalf("heap grew %d MiB over 200k sessions", grew>>20)
	}
	eventually(t, 10*time.Second, "idle allowances to go", func() bool { return e.allowEntries() <= 1 })
	if _, err := e.PlaceOrder(context.Background(), OrderRequest{Drop: "crowd", SKU: "tee", Qty: 1, Buyer: "maxed", IdempotencyKey: "last"}); !errors.Is(err, ErrLimit) {
		t.Fatalf("the buyer at the limit after the crowd: %v, want ErrLimit", err)
	}
	settled(t, h.store, "crowd", 2+sessions/100)
}

// shipBlocked is a real store whose Ship fails while blocked (an edge cut
// off from Redis for its shipping only).
type shipBlocked struct {
	Store
	blocked atomic.Bool
}

func (s *shipBlocked) Ship(ctx context.Context, items []ShipItem) ([]ShipResult, error) {
	if s.blocked.Load() {
		return nil, fmt.Errorf("ship blocked by the test: %w", ErrUnavailable)
	}
	return s.Store.Ship(ctx, items)
}

// The failure the design admits: an edge cannot ship its orders for longer
// than lease_ttl, the buyer's allowance expires in the store and another
// edge sells the rest of the limit. When the first edge's orders arrive the
// store refuses them (cancelled, reason limit): the limit is never exceeded
// in total, and the edge stops selling under an allowance it no longer
// holds.
func TestEdgeLimitNeverExceededWhenAnEdgeCannotShip(t *testing.T) {
	cfg := testConfig()
	cfg.LeaseTTL = time.Second
	h := newHarness(t, cfg)
	h.open(t, limitDrop("cut", 100, 2, 0, 0))
	cut := &shipBlocked{Store: h.store}
	hc := &harness{store: cut, ctl: h.ctl}
	a := withLeases(t, hc, cfg, "cut", "cut-off")[0]
	b := withLeases(t, h, cfg, "cut", "fine")[0]
	cut.blocked.Store(true)
	for _, k := range []string{"a1", "a2"} {
		if _, err := place(t, a, OrderRequest{Drop: "cut", SKU: "tee", Qty: 1, Buyer: "ann", IdempotencyKey: k}); err != nil {
			t.Fatalf("order %s at the cut-off edge: %v", k, err)
		}
	}
	if _, err := a.PlaceOrder(context.Background(), OrderRequest{Drop: "cut", SKU: "tee", Qty: 1, Buyer: "ann", IdempotencyKey: "a3"}); !errors.Is(err, ErrLimit) {
		t.Fatalf("third unit at the cut-off edge: %v, want ErrLimit", err)
	}
	// After lease_ttl the store no longer counts the allowance as the cut-off
	// edge's: the other edge gets it with the whole limit (it cannot know).
	got := 0
	eventually(t, 10*time.Second, "the other edge to sell to ann", func() bool {
		_, err := b.PlaceOrder(context.Background(), OrderRequest{Drop: "cut", SKU: "tee", Qty: 1, Buyer: "ann", IdempotencyKey: fmt.Sprint("b", got)})
		if err == nil {
			got++
		}
		return got == 2
	})
	cut.blocked.Store(false)
	settled(t, h.store, "cut", 2)
	eventually(t, 5*time.Second, "the cut-off edge's orders recorded", func() bool {
		for _, k := range []string{"a1", "a2"} {
			o, err := h.store.Order(context.Background(), OrderID("cut", "ann", k))
			if err != nil || o.Status != StatusCancelled || o.Reason != "limit" {
				return false
			}
		}
		return true
	})
	if tt := mustTotals(t, h.store, "cut"); tt.Sold != 2 || tt.Cancelled != 2 {
		t.Fatalf("ann holds more than her limit: %+v", tt)
	}
}

// An edge that stops (drain) hands its allowances back: the buyer's next
// order at another edge is answered at once, not "held" until they expire.
func TestEdgeDrainHandsAllowancesBack(t *testing.T) {
	cfg := testConfig()
	cfg.LeaseTTL = 10 * time.Second // expiry alone would keep the buyer waiting
	h := newHarness(t, cfg)
	h.open(t, limitDrop("drain", 100, 3, 0, 0))
	a, err := NewEdge(EdgeParams{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Config: cfg,
		DataDir: t.TempDir(), EdgeID: "leaving", Store: h.store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	<-a.Ready()
	b := h.edge(t, "staying", cfg, nil)
	if _, err := place(t, a, OrderRequest{Drop: "drain", SKU: "tee", Qty: 1, Buyer: "dee", IdempotencyKey: "1"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	o, err := b.PlaceOrder(context.Background(), OrderRequest{Drop: "drain", SKU: "tee", Qty: 2, Buyer: "dee", IdempotencyKey: "2"})
	if err != nil {
		t.Fatalf("the next order at the staying edge: %v, want the order at once", err)
	}
	if _, err := b.PlaceOrder(context.Background(), OrderRequest{Drop: "drain", SKU: "tee", Qty: 1, Buyer: "dee", IdempotencyKey: "3"}); !errors.Is(err, ErrLimit) {
		t.Fatalf("a fourth unit: %v, want ErrLimit", err)
	}
	_ = o
	settled(t, h.store, "drain", 3)
}

// Buyers who signed in before the drop opened are prepared when it opens:
// their first orders make no allowance call either.
func TestEdgePreparesAgainWhenTheDropOpens(t *testing.T) {
	cfg := testConfig()
	cs := &countingStore{Store: newHarness(t, cfg).store}
	h := newHarnessOn(t, cfg, cs)
	if _, err := h.ctl.CreateDrop(context.Background(), limitDrop("later", 100, 2, 0, 0)); err != nil {
		t.Fatal(err)
	}
	e := h.edge(t, "early", cfg, nil)
	eventually(t, 5*time.Second, "the edge to know the drop", func() bool {
		ed := e.dropEntry("later")
		ed.mu.Lock()
		defer ed.mu.Unlock()
		return ed.fetched && ed.state == StateCreated
	})
	for i := range 40 {
		e.Prepare(fmt.Sprint("early", i), "", "")
	}
	granted := func() float64 { return testutil.ToFloat64(e.m.allowance.WithLabelValues("granted")) }
	eventually(t, 5*time.Second, "the hints taken (nothing open to prepare yet)", func() bool { return len(e.prepq) == 0 })
	if g := granted(); g != 0 {
		t.Fatalf("%v allowances granted before the drop opened", g)
	}
	if err := h.ctl.Open(context.Background(), "later"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the early buyers prepared at the opening", func() bool { return granted() >= 40 })
	eventually(t, 5*time.Second, "a lease", func() bool {
		sk := e.dropEntry("later").skuEntry("tee")
		sk.mu.Lock()
		defer sk.mu.Unlock()
		return sk.avail > 0
	})
	before := cs.allows.Load()
	for i := range 40 {
		if _, err := e.PlaceOrder(context.Background(), OrderRequest{Drop: "later", SKU: "tee", Qty: 1, Buyer: fmt.Sprint("early", i), IdempotencyKey: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.allows.Load() - before; n != 0 {
		t.Fatalf("the early buyers' first orders made %d allowance calls, want 0", n)
	}
	settled(t, h.store, "later", 40)
}
