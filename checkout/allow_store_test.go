package checkout

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The store's allowance rules, the same on Redis and the embedded store.
func TestStoreAllowances(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.CreateDrop(ctx, testDrop("al", 100, 3)); err != nil {
				t.Fatal(err)
			}
			if err := s.SetState(ctx, "al", StateOpen); err != nil {
				t.Fatal(err)
			}
			alice := Limit{Key: LimitKey(KindBuyer, "alice"), Max: 3}
			ask := func(edge string, want bool, ttl time.Duration, lims ...Limit) []int {
				t.Helper()
				items := make([]AllowItem, len(lims))
				for i, l := range lims {
					items[i] = AllowItem{SKU: "tee", Limit: l}
				}
				left, err := s.Allow(ctx, AllowOp{Drop: "al", Edge: edge, TTL: ttl, Want: want, Items: items})
				if err != nil {
					t.Fatalf("allow: %v", err)
				}
				return left
			}
			wantedAt := func(edge string) []string {
				t.Helper()
				v, err := s.View(ctx, "al", edge, []string{"tee"})
				if err != nil {
					t.Fatal(err)
				}
				var keys []string
				for _, w := range v.Wanted {
					keys = append(keys, w.SKU+"|"+w.Limit.Key)
				}
				return keys
			}
			if got := ask("e1", true, time.Minute, alice); fmt.Sprint(got) != "[3]" {
				t.Fatalf("first grant: %v, want [3]", got)
			}
			if got := ask("e1", true, time.Minute, alice); fmt.Sprint(got) != "[3]" {
				t.Fatalf("the holder asking again: %v, want [3]", got)
			}
			// Another edge: held elsewhere; soft asks leave no mark, wanting ones do.
			if got := ask("e2", false, time.Minute, alice); fmt.Sprint(got) != "[-1]" {
				t.Fatalf("e2 soft: %v, want [-1]", got)
			}
			if w := wantedAt("e1"); len(w) != 0 {
				t.Fatalf("a soft ask marked it wanted: %v", w)
			}
			bob := Limit{Key: LimitKey(KindBuyer, "bob"), Max: 3}
			if got := ask("e2", true, time.Minute, alice, bob); fmt.Sprint(got) != "[-1 3]" {
				t.Fatalf("e2 wanting alice, asking bob: %v, want [-1 3]", got)
			}
			if w := wantedAt("e1"); fmt.Sprint(w) != "[tee|"+alice.Key+"]" {
				t.Fatalf("wanted from e1: %v", w)
			}
			if w := wantedAt("e2"); len(w) != 0 {
				t.Fatalf("wanted from e2: %v", w)
			}
			// A direct sale for alice elsewhere is held too.
			d := Order{ID: OrderID("al", "alice", "d1"), Drop: "al", SKU: "tee", Qty: 1, Buyer: "alice", PriceCents: 2500, Currency: "EUR", TotalCents: 2500, Status: StatusPending, Edge: "e3"}
			if r, err := s.SellDirect(ctx, perBuyer(d, 3)); err != nil || r.Outcome != OutcomeLimitHeld || r.Limit != alice.Key {
				t.Fatalf("direct while e1 holds: %+v %v", r, err)
			}
			// e1 sold 2 under it and shipped them, then hands it back.
			if _, err := s.Grant(ctx, LeaseOp{Drop: "al", SKU: "tee", Edge: "e1", OpID: "g", Units: 10, TTL: time.Minute}); err != nil {
				t.Fatal(err)
			}
			o := d
			o.ID, o.Qty, o.Edge = OrderID("al", "alice", "s1"), 2, "e1"
			if r, err := s.Ship(ctx, []ShipItem{perBuyer(o, 3)}); err != nil || r[0].Outcome != OutcomeCreated {
				t.Fatalf("ship: %+v %v", r, err)
			}
			if err := s.Release(ctx, "al", "e1", []AllowItem{{SKU: "tee", Limit: alice}}); err != nil {
				t.Fatal(err)
			}
			if w := wantedAt("e1"); len(w) != 0 {
				t.Fatalf("still wanted after release: %v", w)
			}
			if got := ask("e2", true, time.Minute, alice); fmt.Sprint(got) != "[1]" {
				t.Fatalf("e2 after the release: %v, want [1] (3 less the 2 shipped)", got)
			}
			// e2 sells the last one directly; at the limit nothing is held.
			d.Edge = "e2"
			if r, err := s.SellDirect(ctx, perBuyer(d, 3)); err != nil || r.Outcome != OutcomeCreated {
				t.Fatalf("direct by the holder: %+v %v", r, err)
			}
			d2 := d
			d2.ID = OrderID("al", "alice", "d2")
			if r, err := s.SellDirect(ctx, perBuyer(d2, 3)); err != nil || r.Outcome != OutcomeLimit || r.Limit != alice.Key {
				t.Fatalf("direct over the limit: %+v %v", r, err)
			}
			if got := ask("e3", true, time.Minute, alice); fmt.Sprint(got) != "[0]" {
				t.Fatalf("e3 at the limit: %v, want [0]", got)
			}
			if got := ask("e1", true, time.Minute, alice); fmt.Sprint(got) != "[0]" {
				t.Fatalf("e1 at the limit (not held by anyone): %v, want [0]", got)
			}
			// Over the limit at ship time (an expired allowance): recorded cancelled.
			o.ID, o.Qty = OrderID("al", "alice", "s2"), 1
			if r, err := s.Ship(ctx, []ShipItem{perBuyer(o, 3)}); err != nil || r[0].Outcome != OutcomeCancelled || r[0].Order.Reason != "limit" {
				t.Fatalf("ship over the limit: %+v %v", r, err)
			}
			// A cancelled order gives its units back to the limit.
			if _, err := s.Cancel(ctx, d.ID, "payment_declined"); err != nil {
				t.Fatal(err)
			}
			if got := ask("e2", true, time.Minute, alice); fmt.Sprint(got) != "[1]" {
				t.Fatalf("the holder after a cancel: %v, want [1]", got)
			}
			if got := ask("e3", true, time.Minute, alice); fmt.Sprint(got) != "[-1]" {
				t.Fatalf("another edge after a cancel: %v, want [-1] (e2 holds it)", got)
			}
			// An expired holder's allowance goes to whoever asks.
			carol := Limit{Key: LimitKey(KindDevice, "phone-1"), Max: 2}
			if got := ask("e1", true, 30*time.Millisecond, carol); fmt.Sprint(got) != "[2]" {
				t.Fatalf("short grant: %v", got)
			}
			eventually(t, 5*time.Second, "the short allowance to expire", func() bool {
				return fmt.Sprint(ask("e2", true, time.Minute, carol)) == "[2]"
			})
			if got := ask("e1", true, time.Minute, carol); fmt.Sprint(got) != "[-1]" {
				t.Fatalf("e1 after e2 took it over: %v, want [-1]", got)
			}
		})
	}
}

// The embedded store journals allowances: after a restart the holder and
// the units used are as they were.
func TestMemStoreReplaysAllowances(t *testing.T) {
	path := t.TempDir() + "/store.journal"
	ctx := context.Background()
	s, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDrop(ctx, testDrop("ra", 10, 2)); err != nil {
		t.Fatal(err)
	}
	_ = s.SetState(ctx, "ra", StateOpen)
	lim := Limit{Key: LimitKey(KindBuyer, "b"), Max: 2}
	if left, err := s.Allow(ctx, AllowOp{Drop: "ra", Edge: "e1", TTL: time.Hour, Items: []AllowItem{{SKU: "tee", Limit: lim}}}); err != nil || fmt.Sprint(left) != "[2]" {
		t.Fatalf("allow: %v %v", left, err)
	}
	o := Order{ID: OrderID("ra", "b", "k"), Drop: "ra", SKU: "tee", Qty: 1, Buyer: "b", TotalCents: 2500, Status: StatusPending, Edge: "e1"}
	if r, err := s.SellDirect(ctx, perBuyer(o, 2)); err != nil || r.Outcome != OutcomeCreated {
		t.Fatalf("direct: %+v %v", r, err)
	}
	s.Close()
	s2, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if left, err := s2.Allow(ctx, AllowOp{Drop: "ra", Edge: "e2", TTL: time.Hour, Items: []AllowItem{{SKU: "tee", Limit: lim}}}); err != nil || fmt.Sprint(left) != "[-1]" {
		t.Fatalf("another edge after replay: %v %v, want [-1] (e1 holds it)", left, err)
	}
	if left, err := s2.Allow(ctx, AllowOp{Drop: "ra", Edge: "e1", TTL: time.Hour, Items: []AllowItem{{SKU: "tee", Limit: lim}}}); err != nil || fmt.Sprint(left) != "[1]" {
		t.Fatalf("the holder after replay: %v %v, want [1]", left, err)
	}
}
