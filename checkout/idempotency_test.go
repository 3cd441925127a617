package checkout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// soldOutSeenBy waits until e's last sync says drop's tee is gone everywhere.
func soldOutSeenBy(t *testing.T, e *Edge, drop string) {
	t.Helper()
	eventually(t, 5*time.Second, e.ID()+" to see the drop sold out", func() bool {
		left, ok := e.StockLeft(drop)["tee"]
		return ok && left == 0
	})
}

// The buyer's first answer (a 201 from edge A) is lost; the retry, with the
// same key, lands on edge B, whose sync says sold out. B must answer with A's
// order, not "sold out".
func TestEdgeSoldOutEdgeAnswersTheOrderAnotherEdgeSold(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			h := newHarnessOn(t, cfg, s)
			h.open(t, testDrop("last-"+name, 3, 0))
			drop := "last-" + name
			a, b := h.edge(t, "a", cfg, nil), h.edge(t, "b", cfg, nil)
			var last Order
			for i := range 3 {
				o, err := buy(a, drop, fmt.Sprintf("b%d", i), 1)
				if err != nil {
					t.Fatalf("order %d at A: %v", i, err)
				}
				last = o
			}
			settled(t, h.store, drop, 3)
			soldOutSeenBy(t, b, drop)
			if _, err := buy(b, drop, "newcomer", 1); !errors.Is(err, ErrSoldOut) {
				t.Fatalf("a new buyer at B: %v, want sold out", err)
			}
			o, err := buy(b, drop, "b2", 1) // the same buyer and key as A's last order
			if err != nil {
				t.Fatalf("retry at B of A's order %s: %v; want the order", last.ID, err)
			}
			if o.ID != last.ID || o.Edge != "a" {
				t.Fatalf("retry at B answered %+v; want A's order %s", o, last.ID)
			}
			// Once the drop closes the retry still names the order.
			if err := h.ctl.Close(context.Background(), drop); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "B to see the drop closed", func() bool {
				_, err := buy(b, drop, "late", 1)
				return errors.Is(err, ErrNotOpen)
			})
			if o, err := buy(b, drop, "b1", 1); err != nil || o.ID != OrderID(drop, "b1", "k-b1") {
				t.Fatalf("retry at B after close: %+v %v; want the order", o, err)
			}
		})
	}
}

// Buyers tap three times at once through two edges while the last units
// move from leases to direct sales and readers poll their orders: every
// attempt of one key names one order or none, and under -race the order
// book's fields are only touched under its lock.
func TestEdgeConcurrentAttemptsOneOrderPerKey(t *testing.T) {
	cfg := testConfig()
	cfg.DirectThreshold = 20
	h := newHarness(t, cfg)
	const stock = 40
	h.open(t, testDrop("race", stock, 0))
	edges := []*Edge{h.edge(t, "r1", cfg, nil), h.edge(t, "r2", cfg, nil)}
	const buyers = 150
	ids := make([][3]string, buyers)
	refused := make([][3]bool, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		for a := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := OrderRequest{Drop: "race", SKU: "tee", Qty: 1, Buyer: fmt.Sprint("b", i), IdempotencyKey: "k", Retry: a == 2}
				for {
					o, err := edges[(i+a)%2].PlaceOrder(context.Background(), req)
					switch {
					case err == nil:
						ids[i][a] = o.ID
						_, _ = edges[(i+a+1)%2].Order(context.Background(), o.ID)
						return
					case errors.Is(err, ErrSoldOut):
						refused[i][a] = true
						return
					case errors.Is(err, ErrHeld), errors.Is(err, ErrUnavailable):
						continue // try again, as a client does
					default:
						t.Errorf("buyer %d attempt %d: %v", i, a, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	sold := 0
	for i := range buyers {
		var id string
		for a := range 3 {
			if ids[i][a] != "" {
				if id != "" && id != ids[i][a] {
					t.Fatalf("buyer %d got two orders: %v", i, ids[i])
				}
				id = ids[i][a]
			}
		}
		if id != "" {
			sold++
			for a := range 3 {
				if refused[i][a] {
					t.Fatalf("buyer %d holds order %s and was told sold out: %v %v", i, id, ids[i], refused[i])
				}
			}
		}
	}
	if sold != stock {
		t.Fatalf("%d buyers hold an order, want %d", sold, stock)
	}
	settled(t, h.store, "race", stock)
}
