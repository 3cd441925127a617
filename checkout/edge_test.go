package checkout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/redistest"
)

type harness struct {
	store Store
	ctl   *Control
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	s, err := OpenRedisStore(context.Background(), srv.URL(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return newHarnessOn(t, cfg, s)
}

func newHarnessOn(t *testing.T, cfg Config, s Store) *harness {
	t.Helper()
	ctl, err := NewControl(ControlParams{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Config: cfg, Store: s})
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctl.Run)
	return &harness{store: s, ctl: ctl}
}

// run starts f in a goroutine and, at cleanup, cancels it and waits for it.
func run(t *testing.T, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return within 15s of cancel")
		}
	})
}

func (h *harness) edge(t *testing.T, id string, cfg Config, pay PaymentProvider) *Edge {
	t.Helper()
	e, err := NewEdge(EdgeParams{Logger: testLogger(t).With("edge", id), Registerer: prometheus.NewRegistry(), Config: cfg,
		DataDir: t.TempDir(), EdgeID: id, Store: h.store, Payment: pay})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e.Run)
	<-e.Ready()
	return e
}

func (h *harness) open(t *testing.T, d Drop) {
	t.Helper()
	ctx := context.Background()
	if _, err := h.ctl.CreateDrop(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := h.ctl.Open(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
}

func buy(e *Edge, drop, buyer string, qty int) (Order, error) {
	return e.PlaceOrder(context.Background(), OrderRequest{Drop: drop, SKU: "tee", Qty: qty, Buyer: buyer, IdempotencyKey: "k-" + buyer})
}

// buyUntilAnswered is buy as a client does it: a "try again" answer (held:
// the last units in other edges' leases; unavailable: the store slow to
// answer) is asked again with the same key after the edge's hint, until a
// definitive answer or 10 s.
func buyUntilAnswered(e *Edge, drop, buyer string, qty int) (Order, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := buy(e, drop, buyer, qty)
		if c := ClassOf(err); (c != ClassHeld && c != ClassUnavailable) || time.Now().After(deadline) {
			return o, err
		}
		time.Sleep(e.RetryHint())
	}
}

// settled waits until the drop's books show every accepted unit and no
// lease is left unsold at an edge, and returns the totals.
func settled(t *testing.T, s Store, drop string, sold int) SKUTotals {
	t.Helper()
	var tt SKUTotals
	eventually(t, 10*time.Second, fmt.Sprintf("sold=%d in the store", sold), func() bool {
		tt = mustTotals(t, s, drop)
		return tt.Sold == sold
	})
	if tt.Free+tt.HeldAtEdges+tt.Sold+tt.Reserved != tt.Stock {
		t.Fatalf("books do not balance: %+v", tt)
	}
	return tt
}

func TestEdgeSellsExactlyTheStock(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.open(t, testDrop("sell", 60, 0))
	edges := []*Edge{h.edge(t, "e1", cfg, nil), h.edge(t, "e2", cfg, nil), h.edge(t, "e3", cfg, nil)}
	var (
		mu       sync.Mutex
		accepted = map[string]int{}
		soldOut  int
		wg       sync.WaitGroup
	)
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Held answers (the last units still in other edges' leases,
			// not yet shipped) are asked again, as a client does.
			o, err := buyUntilAnswered(edges[i%3], "sell", fmt.Sprintf("b%d", i), 1)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted[o.ID]++
			case errors.Is(err, ErrSoldOut):
				soldOut++
			default:
				t.Errorf("buyer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if len(accepted) != 60 || soldOut != 240 {
		t.Fatalf("accepted %d orders, %d sold out; want 60 and 240", len(accepted), soldOut)
	}
	settled(t, h.store, "sell", 60)
	for id := range accepted {
		o, err := h.store.Order(context.Background(), id)
		if err != nil || o.Status == StatusCancelled {
			t.Fatalf("accepted order %s in store: %+v %v", id, o, err)
		}
	}
	eventually(t, 5*time.Second, "payments confirmed", func() bool { return mustTotals(t, h.store, "sell").Paid == 60 })
}

func TestEdgeIdempotentAcrossEdges(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.open(t, testDrop("idem", 50, 0))
	e1, e2 := h.edge(t, "e1", cfg, nil), h.edge(t, "e2", cfg, nil)
	// Let both edges hold leases so both sell from memory.
	eventually(t, 5*time.Second, "leases at both edges", func() bool {
		return mustTotals(t, h.store, "idem").HeldAtEdges >= 2*cfg.LeaseMin
	})
	req := OrderRequest{Drop: "idem", SKU: "tee", Qty: 2, Buyer: "alice", IdempotencyKey: "same-key"}
	var wg sync.WaitGroup
	ids := make([]string, 6)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := e1
			if i%2 == 1 {
				e = e2
			}
			o, err := e.PlaceOrder(context.Background(), req)
			if err != nil {
				t.Errorf("attempt %d: %v", i, err)
			}
			ids[i] = o.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("retries got different orders: %v", ids)
		}
	}
	tt := settled(t, h.store, "idem", 2)
	if tt.Orders != 1 {
		t.Fatalf("orders in store = %d, want 1", tt.Orders)
	}
	// Later retries, again through both edges, still name the same order.
	for _, e := range []*Edge{e1, e2} {
		o, err := e.PlaceOrder(context.Background(), req)
		if err != nil || o.ID != ids[0] {
			t.Fatalf("late retry: %+v %v", o, err)
		}
	}
	if tt := settled(t, h.store, "idem", 2); tt.Orders != 1 {
		t.Fatalf("orders after late retries = %d, want 1", tt.Orders)
	}
}

func TestEdgePerBuyerLimit(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.open(t, testDrop("limit", 50, 2))
	e := h.edge(t, "e1", cfg, nil)
	if _, err := buy(e, "limit", "bob", 3); !errors.Is(err, ErrLimit) {
		t.Fatalf("qty 3 over max 2: %v, want ErrLimit", err)
	}
	if _, err := e.PlaceOrder(context.Background(), OrderRequest{Drop: "limit", SKU: "tee", Qty: 2, Buyer: "bob", IdempotencyKey: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.PlaceOrder(context.Background(), OrderRequest{Drop: "limit", SKU: "tee", Qty: 1, Buyer: "bob", IdempotencyKey: "b"}); !errors.Is(err, ErrLimit) {
		t.Fatalf("third unit: %v, want ErrLimit", err)
	}
	settled(t, h.store, "limit", 2)
}

func TestEdgePaymentDeclinedReturnsStock(t *testing.T) {
	cfg := testConfig()
	cfg.Payment.Decline = true
	h := newHarness(t, cfg)
	h.open(t, testDrop("decl", 10, 0))
	e := h.edge(t, "e1", cfg, nil)
	o, err := buy(e, "decl", "carol", 3)
	if err != nil || o.Status != StatusPending {
		t.Fatalf("order: %+v %v", o, err)
	}
	eventually(t, 5*time.Second, "order cancelled by the declined payment", func() bool {
		got, err := e.Order(context.Background(), o.ID)
		return err == nil && got.Status == StatusCancelled && got.Reason == "payment_declined"
	})
	tt := mustTotals(t, h.store, "decl")
	if tt.Sold != 0 || tt.Cancelled != 1 || tt.Free+tt.HeldAtEdges != 10 {
		t.Fatalf("stock not returned: %+v", tt)
	}
}

func TestEdgeHoldExpiryReturnsStockAndRefunds(t *testing.T) {
	cfg := testConfig()
	cfg.HoldTime = 200 * time.Millisecond
	cfg.Payment.Delay = 700 * time.Millisecond
	h := newHarness(t, cfg)
	h.open(t, testDrop("hold", 10, 0))
	pay := NewTestProvider(cfg.Payment)
	e := h.edge(t, "e1", cfg, pay)
	o, err := buy(e, "hold", "dave", 4)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "hold to expire", func() bool {
		got, err := h.store.Order(context.Background(), o.ID)
		return err == nil && got.Status == StatusCancelled && got.Reason == "hold_expired"
	})
	if tt := mustTotals(t, h.store, "hold"); tt.Sold != 0 || tt.Free+tt.HeldAtEdges != 10 {
		t.Fatalf("units not back after hold expiry: %+v", tt)
	}
	eventually(t, 5*time.Second, "late capture refunded", func() bool { return pay.Refunded(o.ID) })
}

func TestEdgeClosedDropRefusesAndReturnsLeases(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.open(t, testDrop("close", 40, 0))
	e := h.edge(t, "e1", cfg, nil)
	if _, err := buy(e, "close", "erin", 1); err != nil {
		t.Fatal(err)
	}
	if err := h.ctl.Close(context.Background(), "close"); err != nil {
		t.Fatal(err)
	}
	i := 0
	eventually(t, 5*time.Second, "edge to refuse orders", func() bool {
		i++
		_, err := buy(e, "close", fmt.Sprintf("late%d", i), 1)
		return errors.Is(err, ErrNotOpen)
	})
	before := mustTotals(t, h.store, "close")
	if _, err := buy(e, "close", "after-close", 1); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("order after close: %v, want ErrNotOpen", err)
	}
	tt := settled(t, h.store, "close", before.Sold)
	eventually(t, 5*time.Second, "leases returned", func() bool { return mustTotals(t, h.store, "close").HeldAtEdges == 0 })
	if tt.Sold < 1 {
		t.Fatalf("first order lost: %+v", tt)
	}
}

func TestEdgeNoStrandedUnitsNearTheEnd(t *testing.T) {
	cfg := testConfig()
	cfg.DirectThreshold = 10
	h := newHarness(t, cfg)
	h.open(t, testDrop("end", 30, 0))
	e1, e2 := h.edge(t, "e1", cfg, nil), h.edge(t, "e2", cfg, nil)
	// e2 holds a lease and sells nothing; buyers come only to e1.
	eventually(t, 5*time.Second, "e2 holds a lease", func() bool { return mustTotals(t, h.store, "end").HeldAtEdges > 0 })
	_ = e2
	n := 0
	for i := range 40 {
		if _, err := buy(e1, "end", fmt.Sprintf("b%d", i), 1); err == nil {
			n++
		} else if !errors.Is(err, ErrSoldOut) {
			t.Fatal(err)
		}
	}
	if n != 30 {
		t.Fatalf("one edge sold %d of 30 while the other held units", n)
	}
	if tt := settled(t, h.store, "end", 30); tt.HeldAtEdges != 0 {
		t.Fatalf("units stranded: %+v", tt)
	}
}

func TestEdgeEmbeddedStore(t *testing.T) {
	cfg := testConfig()
	s, err := OpenStore(context.Background(), cfg, t.TempDir(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h := newHarnessOn(t, cfg, s)
	h.open(t, testDrop("demo", 20, 0))
	e := h.edge(t, "demo-edge", cfg, nil)
	for i := range 25 {
		_, err := buy(e, "demo", fmt.Sprintf("b%d", i), 1)
		if (i < 20) != (err == nil) {
			t.Fatalf("order %d: %v", i, err)
		}
	}
	settled(t, s, "demo", 20)
	left := e.StockLeft("demo")
	eventually(t, 5*time.Second, "stock left to reach 0", func() bool { left = e.StockLeft("demo"); return left["tee"] == 0 })
}

func TestEdgeStockSubscription(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.open(t, testDrop("stock", 10, 0))
	e := h.edge(t, "e1", cfg, nil)
	got := make(chan StockLevel, 100)
	unsub := e.OnStock(func(l StockLevel) {
		select {
		case got <- l:
		default:
		}
	})
	defer unsub()
	if _, err := buy(e, "stock", "x", 3); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case l := <-got:
			if l.Drop == "stock" && l.SKU == "tee" && l.Left == 7 {
				return
			}
		case <-deadline:
			t.Fatalf("no stock update to 7 left; StockLeft=%v", e.StockLeft("stock"))
		}
	}
}

func TestEdgeBuyerOrders(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			h := newHarnessOn(t, cfg, s)
			h.open(t, testDrop("mine", 10, 0))
			e1, e2 := h.edge(t, "e1", cfg, nil), h.edge(t, "e2", cfg, nil)
			a, err := buy(e1, "mine", "ann", 1)
			if err != nil {
				t.Fatal(err)
			}
			// At once, at the edge that sold it (shipped or not).
			got, err := e1.BuyerOrders(context.Background(), "ann")
			if err != nil || len(got) != 1 || got[0].ID != a.ID {
				t.Fatalf("ann's orders at e1 right after buying: %+v %v", got, err)
			}
			if _, err := buy(e2, "mine", "ben", 2); err != nil {
				t.Fatal(err)
			}
			// At any edge once shipped; never another buyer's.
			eventually(t, 5*time.Second, "ann's order at e2", func() bool {
				got, err = e2.BuyerOrders(context.Background(), "ann")
				return err == nil && len(got) == 1 && got[0].ID == a.ID
			})
			if _, err := e1.BuyerOrders(context.Background(), "not a buyer"); !errors.Is(err, ErrInvalid) {
				t.Fatalf("bad buyer: %v, want ErrInvalid", err)
			}
		})
	}
}
