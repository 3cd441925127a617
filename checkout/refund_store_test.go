package checkout

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// sellN sells n direct orders of qty 1 to buyers b0..b(n-1) of drop d
// (open) and returns them, oldest first.
func sellN(t *testing.T, s Store, d string, n int) []Order {
	t.Helper()
	var out []Order
	for i := range n {
		b := fmt.Sprintf("b%d", i)
		o := Order{ID: OrderID(d, b, "k"), Drop: d, SKU: "tee", Qty: 1, Buyer: b, PriceCents: 2500, Currency: "EUR",
			TotalCents: 2500, Status: StatusPending, Edge: "e1", CreatedAt: time.Now().UTC()}
		r, err := s.SellDirect(context.Background(), perBuyer(o, 1))
		if err != nil || r.Outcome != OutcomeCreated {
			t.Fatalf("sell %s: %+v %v", b, r, err)
		}
		out = append(out, r.Order)
	}
	return out
}

func TestStoreDropOrders(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, _, err := s.DropOrders(ctx, "nope", 0, 10); ClassOf(err) != ClassNotFound {
				t.Fatalf("orders of a missing drop: %v, want not found", err)
			}
			if err := s.CreateDrop(ctx, testDrop("d1", 20, 1)); err != nil {
				t.Fatal(err)
			}
			if got, total, err := s.DropOrders(ctx, "d1", 0, 10); err != nil || total != 0 || len(got) != 0 {
				t.Fatalf("orders of an empty drop: %v %d %v", got, total, err)
			}
			if err := s.SetState(ctx, "d1", StateOpen); err != nil {
				t.Fatal(err)
			}
			sold := sellN(t, s, "d1", 5)
			page, total, err := s.DropOrders(ctx, "d1", 0, 2)
			if err != nil || total != 5 || len(page) != 2 || page[0].ID != sold[4].ID || page[1].ID != sold[3].ID {
				t.Fatalf("newest page: %v total %d %v", page, total, err)
			}
			// The next page starts before the last one's oldest: positions
			// hold while orders arrive.
			sellN2 := Order{ID: OrderID("d1", "late", "k"), Drop: "d1", SKU: "tee", Qty: 1, Buyer: "late", PriceCents: 2500,
				Currency: "EUR", TotalCents: 2500, Status: StatusPending, Edge: "e1", CreatedAt: time.Now().UTC()}
			if r, err := s.SellDirect(ctx, perBuyer(sellN2, 1)); err != nil || r.Outcome != OutcomeCreated {
				t.Fatalf("late sale: %+v %v", r, err)
			}
			page, total, err = s.DropOrders(ctx, "d1", 3, 2)
			if err != nil || total != 6 || len(page) != 2 || page[0].ID != sold[2].ID || page[1].ID != sold[1].ID {
				t.Fatalf("second page: %v total %d %v", page, total, err)
			}
			page, _, err = s.DropOrders(ctx, "d1", 1, 10)
			if err != nil || len(page) != 1 || page[0].ID != sold[0].ID {
				t.Fatalf("last page: %v %v", page, err)
			}
		})
	}
}

func TestStoreRefund(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.CreateDrop(ctx, testDrop("d1", 10, 1)); err != nil {
				t.Fatal(err)
			}
			if err := s.SetState(ctx, "d1", StateOpen); err != nil {
				t.Fatal(err)
			}
			sold := sellN(t, s, "d1", 3)
			if _, err := s.ConfirmPayment(ctx, sold[0].ID); err != nil {
				t.Fatal(err)
			}
			// A paid order refunded with restock: its unit is free again.
			o, changed, err := s.Refund(ctx, RefundOp{ID: sold[0].ID, From: StatusPaid, Restock: true})
			if err != nil || !changed || o.Status != StatusRefunded || o.Reason != ReasonSellerRefunded {
				t.Fatalf("refund paid: %+v %v %v", o, changed, err)
			}
			tt := mustTotals(t, s, "d1")
			if tt.Stock != 10 || tt.Free != 8 || tt.Sold != 2 || tt.Orders != 2 || tt.Paid != 0 || tt.Refunded != 1 || tt.RevenueCents != 5000 {
				t.Fatalf("totals after refund with restock: %+v", tt)
			}
			// Idempotent: again changes nothing.
			if o, changed, err := s.Refund(ctx, RefundOp{ID: sold[0].ID, From: StatusPaid, Restock: true}); err != nil || changed || o.Status != StatusRefunded {
				t.Fatalf("refund again: %+v %v %v", o, changed, err)
			}
			if got, err := s.Order(ctx, sold[0].ID); err != nil || got.Status != StatusRefunded {
				t.Fatalf("the buyer reads %+v %v, want refunded", got, err)
			}
			// The buyer's limit is given back with the unit.
			again := sold[0]
			again.ID, again.Status = OrderID("d1", again.Buyer, "k2"), StatusPending
			if r, err := s.SellDirect(ctx, perBuyer(again, 1)); err != nil || r.Outcome != OutcomeCreated {
				t.Fatalf("buy again after the refund: %+v %v", r, err)
			}
			// A pending order cancelled without restock leaves the stock.
			o, changed, err = s.Refund(ctx, RefundOp{ID: sold[1].ID, From: StatusPending})
			if err != nil || !changed || o.Status != StatusCancelled || o.Reason != ReasonSellerCancelled {
				t.Fatalf("cancel pending: %+v %v %v", o, changed, err)
			}
			tt = mustTotals(t, s, "d1")
			if tt.Stock != 9 || tt.Free != 7 || tt.Sold != 2 || tt.Cancelled != 1 {
				t.Fatalf("totals after cancel without restock: %+v", tt)
			}
			// Paid by the edge meanwhile: a caller who saw it pending
			// changes nothing (its payment must be refunded first).
			if _, err := s.ConfirmPayment(ctx, sold[2].ID); err != nil {
				t.Fatal(err)
			}
			if o, changed, err := s.Refund(ctx, RefundOp{ID: sold[2].ID, From: StatusPending, Restock: true}); err != nil || changed || o.Status != StatusPaid {
				t.Fatalf("refund from a stale status: %+v %v %v", o, changed, err)
			}
			if _, _, err := s.Refund(ctx, RefundOp{ID: OrderID("d1", "x", "y"), From: StatusPaid}); ClassOf(err) != ClassNotFound {
				t.Fatalf("refund of a missing order: %v", err)
			}
			// Many concurrent refunds of one order restock its unit once.
			var wg sync.WaitGroup
			changes := make(chan bool, 8)
			for range 8 {
				wg.Go(func() {
					_, c, err := s.Refund(ctx, RefundOp{ID: sold[2].ID, From: StatusPaid, Restock: true})
					if err != nil {
						t.Error(err)
					}
					changes <- c
				})
			}
			wg.Wait()
			close(changes)
			n := 0
			for c := range changes {
				if c {
					n++
				}
			}
			tt = mustTotals(t, s, "d1")
			if n != 1 || tt.Free != 8 || tt.Sold != 1 || tt.Refunded != 2 || tt.Free+tt.Sold+tt.HeldAtEdges != tt.Stock {
				t.Fatalf("concurrent refunds: %d changed, totals %+v", n, tt)
			}
		})
	}
}

// TestMemStoreRefundReplay: refunds are journaled; a reopened store has
// the same orders and totals.
func TestMemStoreRefundReplay(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.journal")
	s, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDrop(ctx, testDrop("d1", 5, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetState(ctx, "d1", StateOpen); err != nil {
		t.Fatal(err)
	}
	sold := sellN(t, s, "d1", 2)
	if _, _, err := s.Refund(ctx, RefundOp{ID: sold[0].ID, From: StatusPending, Restock: false}); err != nil {
		t.Fatal(err)
	}
	want := mustTotals(t, s, "d1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := mustTotals(t, s2, "d1"); got != want {
		t.Fatalf("after replay: %+v, want %+v", got, want)
	}
	if o, err := s2.Order(ctx, sold[0].ID); err != nil || o.Status != StatusCancelled {
		t.Fatalf("refunded order after replay: %+v %v", o, err)
	}
}
