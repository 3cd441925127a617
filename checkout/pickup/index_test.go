package pickup_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/internal/redistest"
)

// countedOrders counts what the desks read of a real Control's orders.
type countedOrders struct {
	ctl           *checkout.Control
	scanned, read atomic.Int64
}

func (c *countedOrders) PickupOrdersSince(ctx context.Context, cur map[string]int) ([]checkout.Order, map[string]int, error) {
	os, next, err := c.ctl.PickupOrdersSince(ctx, cur)
	c.scanned.Add(int64(len(os)))
	return os, next, err
}

func (c *countedOrders) Order(ctx context.Context, id string) (checkout.Order, error) {
	c.read.Add(1)
	return c.ctl.Order(ctx, id)
}

// checkoutBackends are a checkout store and the pickup store beside it:
// Redis (one redis-server) and the embedded store with a MemStore.
func checkoutBackends(t *testing.T) map[string]func() (checkout.Store, pickup.Store) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	log := slog.New(slog.DiscardHandler)
	return map[string]func() (checkout.Store, pickup.Store){
		"redis": func() (checkout.Store, pickup.Store) {
			rs, err := checkout.OpenRedisStore(context.Background(), srv.URL(), log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rs.Close() })
			return rs, pickup.NewRedisStore(rs.Client())
		},
		"memory": func() (checkout.Store, pickup.Store) {
			ms, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ms.Close() })
			return ms, pickup.NewMemStore()
		},
	}
}

// TestDesksReadTheIndex: the desks index each pickup order once as the
// store records it (edge orders, on both stores): a sync reads only the
// orders of its codes, never every order again; a refunded order leaves
// the list; a second origin (or a restart) on the same stores reads no
// order twice.
func TestDesksReadTheIndex(t *testing.T) {
	for name, open := range checkoutBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cs, ps := open()
			log := slog.New(slog.DiscardHandler)
			cfg := checkout.Defaults()
			cfg.SyncInterval = 20 * time.Millisecond
			ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, Store: cs})
			if err != nil {
				t.Fatal(err)
			}
			edge, err := checkout.NewEdge(checkout.EdgeParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg,
				DataDir: t.TempDir(), EdgeID: "e1", Region: "eu", Store: cs})
			if err != nil {
				t.Fatal(err)
			}
			rctx, rcancel := context.WithCancel(context.Background())
			done := make(chan struct{}, 2)
			go func() { _ = ctl.Run(rctx); done <- struct{}{} }()
			go func() { _ = edge.Run(rctx); done <- struct{}{} }()
			defer func() { rcancel(); <-done; <-done }()
			<-edge.Ready()
			if _, err := ctl.CreateDrop(ctx, checkout.Drop{ID: "d1", Stream: "demo", SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee",
				PriceCents: 2500, Currency: "EUR", Stock: 10}}}); err != nil {
				t.Fatal(err)
			}
			if err := ctl.Open(ctx, "d1"); err != nil {
				t.Fatal(err)
			}
			var ids []string
			place := func(i int, fulfilment string) {
				t.Helper()
				o, err := edge.PlaceOrder(ctx, checkout.OrderRequest{Drop: "d1", SKU: "tee", Qty: 1, Buyer: fmt.Sprintf("buyer%d", i),
					IdempotencyKey: fmt.Sprintf("k%d", i), Fulfilment: fulfilment})
				if err != nil {
					t.Fatal(err)
				}
				if fulfilment != "" {
					ids = append(ids, o.ID)
				}
			}
			shipped := func(n int) {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for {
					os, err := ctl.PickupOrders(ctx, time.Now().Add(time.Hour))
					if err == nil && len(os) == n {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("the store has %d pickup orders (%v), want %d", len(os), err, n)
					}
					time.Sleep(20 * time.Millisecond) // polling the store for the edge's shipped orders
				}
			}
			place(0, checkout.FulfilmentPickup)
			place(1, checkout.FulfilmentPickup)
			place(2, "") // shipping: not indexed
			shipped(2)

			codes := testCodes(t)
			orders := &countedOrders{ctl: ctl}
			newDesks := func() *pickup.Desks {
				d, err := pickup.NewDesks(pickup.Params{Orders: orders, Codes: codes, Store: ps, Registerer: prometheus.NewRegistry()})
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			d := newDesks()
			day, _ := d.ParseDay("")
			l, err := d.List(ctx, day)
			if err != nil || len(l.Items) != 2 || l.Items[0].Order != ids[0] || l.Items[1].Order != ids[1] {
				t.Fatalf("list: %+v %v", l, err)
			}
			if s := orders.scanned.Load(); s != 2 {
				t.Fatalf("the index read %d pickup orders, want 2", s)
			}

			orders.read.Store(0)
			res, err := d.Sync(ctx, []pickup.Collection{{Code: codes.Code(ids[0]), Desk: "desk-a", At: time.Now(), ID: "c1"}})
			if err != nil || res[0].Status != "collected" {
				t.Fatalf("sync: %+v %v", res, err)
			}
			if s, r := orders.scanned.Load(), orders.read.Load(); s != 2 || r != 1 {
				t.Fatalf("a sync of one code read %d new pickup orders and %d orders, want 0 and 1", s-2, r)
			}

			// A new order reaches the desks; a refunded one leaves the list.
			place(3, checkout.FulfilmentPickup)
			shipped(3)
			if it, err := d.Lookup(ctx, codes.Code(ids[2])); err != nil || it.Order != ids[2] {
				t.Fatalf("lookup of the new order: %+v %v", it, err)
			}
			if _, err := ctl.RefundOrder(ctx, ids[1], true); err != nil {
				t.Fatal(err)
			}
			l, err = d.List(ctx, day)
			if err != nil || len(l.Items) != 2 || l.Items[0].Order != ids[0] || l.Items[0].Collected == nil || l.Items[1].Order != ids[2] {
				t.Fatalf("list after a refund: %+v %v", l, err)
			}
			if s := orders.scanned.Load(); s != 3 {
				t.Fatalf("the index read %d pickup orders, want 3 (each once)", s)
			}

			// Another origin on the same stores reads no order again.
			l, err = newDesks().List(ctx, day)
			if err != nil || len(l.Items) != 2 || orders.scanned.Load() != 3 {
				t.Fatalf("a second origin's list: %+v %v, %d orders read", l, err, orders.scanned.Load())
			}
			// Tomorrow: the collected order is off the list, the open one on.
			l, err = d.List(ctx, day.Add(24*time.Hour))
			if err != nil || len(l.Items) != 1 || l.Items[0].Order != ids[2] {
				t.Fatalf("tomorrow's list: %+v %v", l, err)
			}
		})
	}
}
