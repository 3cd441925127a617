package checkout

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestStoreRules(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.CreateDrop(ctx, testDrop("d1", 10, 2)); err != nil {
				t.Fatalf("create: %v", err)
			}
			if err := s.CreateDrop(ctx, testDrop("d1", 10, 2)); !errors.Is(err, ErrDropExists) {
				t.Fatalf("second create: %v, want ErrDropExists", err)
			}
			g, err := s.Grant(ctx, LeaseOp{Drop: "d1", SKU: "tee", Edge: "e1", OpID: "g0", Units: 4, Threshold: 2, TTL: time.Minute})
			if err != nil || !g.NotOpen {
				t.Fatalf("grant before open: %+v %v, want not open", g, err)
			}
			if err := s.SetState(ctx, "d1", StateOpen); err != nil {
				t.Fatal(err)
			}
			g, err = s.Grant(ctx, LeaseOp{Drop: "d1", SKU: "tee", Edge: "e1", OpID: "g1", Units: 4, Threshold: 2, TTL: time.Minute})
			if err != nil || g.Units != 4 || g.Lease != 4 || g.Free != 6 {
				t.Fatalf("grant: %+v %v", g, err)
			}
			// A retried grant returns the first answer and moves nothing.
			g2, err := s.Grant(ctx, LeaseOp{Drop: "d1", SKU: "tee", Edge: "e1", OpID: "g1", Units: 4, Threshold: 2, TTL: time.Minute})
			if err != nil || g2 != g {
				t.Fatalf("retried grant: %+v %v, want %+v", g2, err, g)
			}
			if tt := mustTotals(t, s, "d1"); tt.Free != 6 || tt.HeldAtEdges != 4 {
				t.Fatalf("totals after grant: %+v", tt)
			}
			// Ship an order from the lease; shipping it again is idempotent.
			o := Order{ID: OrderID("d1", "b1", "k1"), Drop: "d1", SKU: "tee", Qty: 2, Buyer: "b1", PriceCents: 2500, Currency: "EUR", TotalCents: 5000, Status: StatusPending, Edge: "e1", CreatedAt: time.Now().UTC()}
			it := perBuyer(o, 2)
			res, err := s.Ship(ctx, []ShipItem{it, it})
			if err != nil || res[0].Outcome != OutcomeCreated || res[1].Outcome != OutcomeExists {
				t.Fatalf("ship twice: %+v %v", res, err)
			}
			other := it
			other.Order.Edge = "e2"
			res, err = s.Ship(ctx, []ShipItem{other})
			if err != nil || res[0].Outcome != OutcomeDuplicate || res[0].Order.Edge != "e1" {
				t.Fatalf("ship from other edge: %+v %v", res, err)
			}
			if tt := mustTotals(t, s, "d1"); tt.Sold != 2 || tt.HeldAtEdges != 2 || tt.Orders != 1 || tt.RevenueCents != 5000 {
				t.Fatalf("totals after ship: %+v", tt)
			}
			// Over the per-buyer limit: the shipped order is recorded cancelled.
			o2 := o
			o2.ID, o2.Qty = OrderID("d1", "b1", "k2"), 1
			res, err = s.Ship(ctx, []ShipItem{perBuyer(o2, 2)})
			if err != nil || res[0].Outcome != OutcomeCancelled || res[0].Order.Reason != "limit" {
				t.Fatalf("ship over limit: %+v %v", res, err)
			}
			// Direct sales: limit, then threshold keeps units for them.
			d := o
			d.ID, d.Buyer, d.Qty, d.Edge = OrderID("d1", "b2", "k"), "b2", 3, "e2"
			r, err := s.SellDirect(ctx, perBuyer(d, 2))
			if err != nil || r.Outcome != OutcomeLimit {
				t.Fatalf("direct over limit: %+v %v", r, err)
			}
			d.Qty = 2
			r, err = s.SellDirect(ctx, perBuyer(d, 2))
			if err != nil || r.Outcome != OutcomeCreated {
				t.Fatalf("direct: %+v %v", r, err)
			}
			// Cancel returns units to free stock; a second cancel changes nothing.
			c, err := s.Cancel(ctx, d.ID, "payment_declined")
			if err != nil || c.Status != StatusCancelled {
				t.Fatalf("cancel: %+v %v", c, err)
			}
			if _, err := s.Cancel(ctx, d.ID, "payment_declined"); err != nil {
				t.Fatal(err)
			}
			tt := mustTotals(t, s, "d1")
			if tt.Free != 7 || tt.HeldAtEdges != 1 || tt.Sold != 2 || tt.Free+tt.HeldAtEdges+tt.Sold != tt.Stock {
				t.Fatalf("totals after cancel: %+v", tt)
			}
			// Confirm payment.
			p, err := s.ConfirmPayment(ctx, o.ID)
			if err != nil || p.Status != StatusPaid {
				t.Fatalf("confirm: %+v %v", p, err)
			}
			// Return the rest of the lease (one unit went back with the limit cancel).
			n, err := s.Return(ctx, LeaseOp{Drop: "d1", SKU: "tee", Edge: "e1", OpID: "r1", Units: 2})
			if err != nil || n != 1 {
				t.Fatalf("return: %d %v", n, err)
			}
			if _, err := s.Renew(ctx, "d1", "tee", "e1", time.Minute); !errors.Is(err, ErrLeaseGone) {
				t.Fatalf("renew after full return: %v, want ErrLeaseGone", err)
			}
			// Drain free stock below the threshold: grants say direct, and a
			// direct sale with units leased elsewhere says held.
			g, err = s.Grant(ctx, LeaseOp{Drop: "d1", SKU: "tee", Edge: "e3", OpID: "g3", Units: 100, Threshold: 2, TTL: time.Minute})
			if err != nil || g.Units != 6 {
				t.Fatalf("big grant: %+v %v", g, err)
			}
			g, err = s.Grant(ctx, LeaseOp{Drop: "d1", SKU: "tee", Edge: "e4", OpID: "g4", Units: 1, Threshold: 2, TTL: time.Minute})
			if err != nil || !g.Direct {
				t.Fatalf("grant near the end: %+v %v, want direct", g, err)
			}
			d.ID, d.Buyer, d.Qty = OrderID("d1", "b3", "k"), "b3", 2
			r, err = s.SellDirect(ctx, perBuyer(d, 2))
			if err != nil || r.Outcome != OutcomeCreated {
				t.Fatalf("direct sale of the threshold units: %+v %v", r, err)
			}
			d.ID, d.Buyer, d.Qty = OrderID("d1", "b4", "k"), "b4", 1
			r, err = s.SellDirect(ctx, perBuyer(d, 2))
			if err != nil || r.Outcome != OutcomeHeld {
				t.Fatalf("direct with units held: %+v %v", r, err)
			}
			if err := s.SetState(ctx, "d1", StateClosed); err != nil {
				t.Fatal(err)
			}
			if err := s.SetState(ctx, "d1", StateOpen); !errors.Is(err, ErrConflict) {
				t.Fatalf("reopen: %v, want conflict", err)
			}
			r, err = s.SellDirect(ctx, perBuyer(d, 2))
			if err != nil || r.Outcome != OutcomeNotOpen {
				t.Fatalf("direct after close: %+v %v", r, err)
			}
			if _, err := s.Order(ctx, OrderID("d1", "nobody", "k")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing order: %v", err)
			}
		})
	}
}

func TestStoreExpiry(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.CreateDrop(ctx, testDrop("d2", 10, 0)); err != nil {
				t.Fatal(err)
			}
			if err := s.SetState(ctx, "d2", StateOpen); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Grant(ctx, LeaseOp{Drop: "d2", SKU: "tee", Edge: "dead", OpID: "g", Units: 5, TTL: 50 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			o := Order{ID: OrderID("d2", "b", "k"), Drop: "d2", SKU: "tee", Qty: 3, Buyer: "b", TotalCents: 3, Status: StatusPending, Edge: "x"}
			if r, err := s.SellDirect(ctx, ShipItem{Order: o, Hold: 50 * time.Millisecond}); err != nil || r.Outcome != OutcomeCreated {
				t.Fatalf("direct: %+v %v", r, err)
			}
			eventually(t, 5*time.Second, "lease and hold to expire", func() bool {
				if _, err := s.ReapLeases(ctx, "d2"); err != nil {
					t.Fatal(err)
				}
				if _, err := s.ReapHolds(ctx, "d2"); err != nil {
					t.Fatal(err)
				}
				tt := mustTotals(t, s, "d2")
				return tt.Free == 10 && tt.HeldAtEdges == 0 && tt.Sold == 0
			})
			got, err := s.Order(ctx, o.ID)
			if err != nil || got.Status != StatusCancelled || got.Reason != "hold_expired" {
				t.Fatalf("order after hold: %+v %v", got, err)
			}
			// A late ship against the reclaimed lease takes free stock.
			late := Order{ID: OrderID("d2", "b2", "k"), Drop: "d2", SKU: "tee", Qty: 10, Buyer: "b2", Status: StatusPending, Edge: "dead"}
			res, err := s.Ship(ctx, []ShipItem{{Order: late, Hold: time.Minute}})
			if err != nil || res[0].Outcome != OutcomeCreated {
				t.Fatalf("late ship: %+v %v", res, err)
			}
			late.ID = OrderID("d2", "b3", "k")
			res, err = s.Ship(ctx, []ShipItem{{Order: late, Hold: time.Minute}})
			if err != nil || res[0].Outcome != OutcomeCancelled || res[0].Order.Reason != "lease_expired" {
				t.Fatalf("late ship with nothing left: %+v %v, want cancelled lease_expired", res, err)
			}
			if tt := mustTotals(t, s, "d2"); tt.Sold != 10 || tt.Free != 0 {
				t.Fatalf("never oversold: %+v", tt)
			}
		})
	}
}

func TestMemStoreReplay(t *testing.T) {
	path := t.TempDir() + "/store.journal"
	ctx := context.Background()
	s, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDrop(ctx, testDrop("d3", 10, 0)); err != nil {
		t.Fatal(err)
	}
	_ = s.SetState(ctx, "d3", StateOpen)
	if _, err := s.Grant(ctx, LeaseOp{Drop: "d3", SKU: "tee", Edge: "e", OpID: "g", Units: 4, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	o := Order{ID: OrderID("d3", "b", "k"), Drop: "d3", SKU: "tee", Qty: 1, Buyer: "b", TotalCents: 2500, Status: StatusPending, Edge: "e"}
	if _, err := s.Ship(ctx, []ShipItem{{Order: o, Hold: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	want := mustTotals(t, s, "d3")
	s.Close()
	s2, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := mustTotals(t, s2, "d3"); got != want {
		t.Fatalf("after replay %+v, want %+v", got, want)
	}
	if got, err := s2.Order(ctx, o.ID); err != nil || got.Status != StatusPending {
		t.Fatalf("order after replay: %+v %v", got, err)
	}
}

func TestStoreOrdersSince(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.CreateDrop(ctx, testDrop("idx", 10, 0)); err != nil {
				t.Fatal(err)
			}
			if err := s.SetState(ctx, "idx", StateOpen); err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range 5 {
				o := Order{ID: OrderID("idx", fmt.Sprint("b", i), "k"), Drop: "idx", SKU: "tee", Qty: 1, Buyer: fmt.Sprint("b", i),
					PriceCents: 2500, Currency: "EUR", TotalCents: 2500, Status: StatusPending, Edge: "e1"}
				if _, err := s.SellDirect(ctx, ShipItem{Order: o, Hold: time.Minute}); err != nil {
					t.Fatal(err)
				}
				want = append(want, o.ID)
			}
			var got []string
			cur := ""
			for {
				ids, next, err := s.OrdersSince(ctx, "idx", cur, 2)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ids...)
				if next == cur {
					break
				}
				cur = next
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("ids %v, want %v in the order they were recorded", got, want)
			}
			// A paid order is not listed twice.
			if _, err := s.ConfirmPayment(ctx, want[0]); err != nil {
				t.Fatal(err)
			}
			if ids, _, err := s.OrdersSince(ctx, "idx", cur, 10); err != nil || len(ids) != 0 {
				t.Fatalf("after a payment: %v %v", ids, err)
			}
		})
	}
}

func TestStoreBuyerOrders(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for _, d := range []string{"bo1", "bo2"} {
				if err := s.CreateDrop(ctx, testDrop(d, 10, 0)); err != nil {
					t.Fatal(err)
				}
				if err := s.SetState(ctx, d, StateOpen); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := s.BuyerOrders(ctx, "alice", 10); err != nil || len(got) != 0 {
				t.Fatalf("before any order: %v %v", got, err)
			}
			order := func(drop, buyer, key string, qty int) Order {
				return Order{ID: OrderID(drop, buyer, key), Drop: drop, SKU: "tee", Qty: qty, Buyer: buyer,
					PriceCents: 2500, Currency: "EUR", TotalCents: 2500 * int64(qty), Status: StatusPending, Edge: "e1", CreatedAt: time.Now().UTC()}
			}
			var want []string                                   // alice's, oldest first
			step := func() { time.Sleep(2 * time.Millisecond) } // distinct record times (ms) for the newest-first order
			o := order("bo1", "alice", "k1", 1)
			if r, err := s.SellDirect(ctx, ShipItem{Order: o, Hold: time.Minute}); err != nil || r.Outcome != OutcomeCreated {
				t.Fatalf("direct: %+v %v", r, err)
			}
			want = append(want, o.ID)
			step()
			if _, err := s.SellDirect(ctx, ShipItem{Order: order("bo1", "bob", "k1", 1), Hold: time.Minute}); err != nil {
				t.Fatal(err)
			}
			step()
			if _, err := s.Grant(ctx, LeaseOp{Drop: "bo2", SKU: "tee", Edge: "e1", OpID: "g", Units: 2, TTL: time.Minute}); err != nil {
				t.Fatal(err)
			}
			o = order("bo2", "alice", "k2", 2)
			if r, err := s.Ship(ctx, []ShipItem{{Order: o, Hold: time.Minute}}); err != nil || r[0].Outcome != OutcomeCreated {
				t.Fatalf("ship: %+v %v", r, err)
			}
			want = append(want, o.ID)
			step()
			// Recorded cancelled at once (no lease, no free stock left for 9):
			// still the buyer's order, with its reason.
			o = order("bo2", "alice", "k3", 9)
			if r, err := s.Ship(ctx, []ShipItem{{Order: o, Hold: time.Minute}}); err != nil || r[0].Outcome != OutcomeCancelled {
				t.Fatalf("ship without units: %+v %v", r, err)
			}
			want = append(want, o.ID)
			got, err := s.BuyerOrders(ctx, "alice", 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, o := range got {
				if o.Buyer != "alice" {
					t.Fatalf("alice is shown %s's order %s", o.Buyer, o.ID)
				}
				ids = append(ids, o.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint([]string{want[2], want[1], want[0]}) {
				t.Fatalf("alice's orders %v, want newest first %v", ids, []string{want[2], want[1], want[0]})
			}
			if got[0].Status != StatusCancelled || got[0].Reason != "lease_expired" {
				t.Fatalf("the cancelled order as listed: %+v", got[0])
			}
			// Bounded: the newest only.
			if got, err := s.BuyerOrders(ctx, "alice", 2); err != nil || len(got) != 2 || got[0].ID != want[2] {
				t.Fatalf("limit 2: %v %v", got, err)
			}
			// A payment shows in the list: it is the order as stored now.
			if _, err := s.ConfirmPayment(ctx, want[0]); err != nil {
				t.Fatal(err)
			}
			if got, err := s.BuyerOrders(ctx, "alice", 10); err != nil || got[2].Status != StatusPaid {
				t.Fatalf("after payment: %+v %v", got, err)
			}
			if got, err := s.BuyerOrders(ctx, "bob", 10); err != nil || len(got) != 1 || got[0].Buyer != "bob" {
				t.Fatalf("bob's orders: %+v %v", got, err)
			}
		})
	}
}
