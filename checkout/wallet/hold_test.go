package wallet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// TestHoldsReserveOnceAndSettle: a hold is taken once per order (a retry
// answers it as it is), is not spendable twice, shows as held on the
// statement, is refused when the balance is too low (nothing changes),
// and ends captured (refunded back later) or released (and may be held
// again); the ledger sums to the balances and holds at every step.
func TestHoldsReserveOnceAndSettle(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			s := ts.store
			if _, _, err := s.Apply(ctx, topUp("eve", "k1", 5000)); err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // the second is a retry through another edge
				r, changed, err := HoldFor(ctx, s, "d1-a", "eve", 3000, "EUR", t0)
				if err != nil || r.State != HoldHeld || changed != (i == 0) {
					t.Fatalf("hold %d: %+v changed=%v %v", i, r, changed, err)
				}
			}
			if _, _, err := HoldFor(ctx, s, "d1-a", "eve", 2000, "EUR", t0); !errors.Is(err, ErrKeyReused) {
				t.Errorf("the order held for another amount: %v", err)
			}
			st, _ := s.Statement(ctx, "eve", 5)
			if st.Balances["EUR"] != 2000 || st.Held["EUR"] != 3000 {
				t.Errorf("statement after a hold: balance %v held %v, want 2000 and 3000", st.Balances, st.Held)
			}
			if _, _, err := HoldFor(ctx, s, "d1-b", "eve", 2500, "EUR", t0); !errors.Is(err, ErrInsufficient) {
				t.Errorf("a hold over the balance: %v", err)
			}
			if raw, _ := s.HoldOf(ctx, "d1-b"); raw != "" {
				t.Errorf("a refused hold left a record %q", raw)
			}
			checkLedger(t, s)
			// Released, then held again (the client's retry after a refusal).
			if r, changed, err := ReleaseHold(ctx, s, "d1-a", t0); err != nil || !changed || r.State != HoldReleased {
				t.Fatalf("release: %+v %v %v", r, changed, err)
			}
			if _, changed, _ := ReleaseHold(ctx, s, "d1-a", t0); changed {
				t.Error("a released hold released twice")
			}
			if r, changed, err := HoldFor(ctx, s, "d1-a", "eve", 3000, "EUR", t0); err != nil || !changed || r.N != 2 {
				t.Fatalf("hold again: %+v %v %v", r, changed, err)
			}
			for i := range 2 {
				if _, changed, err := CaptureHold(ctx, s, "d1-a", t0); err != nil || changed != (i == 0) {
					t.Fatalf("capture %d: changed=%v %v", i, changed, err)
				}
			}
			if _, changed, _ := ReleaseHold(ctx, s, "d1-a", t0); changed {
				t.Error("a captured hold was released")
			}
			if _, _, err := CaptureHold(ctx, s, "d1-none", t0); !errors.Is(err, ErrNoHold) {
				t.Errorf("capture without a hold: %v", err)
			}
			st, _ = s.Statement(ctx, "eve", 10)
			if st.Balances["EUR"] != 2000 || st.Held["EUR"] != 0 {
				t.Errorf("statement after the capture: balance %v held %v", st.Balances, st.Held)
			}
			if _, _, err := Refund(ctx, s, "d1-a", t0); err != nil {
				t.Fatal(err)
			}
			if _, replayed, err := Refund(ctx, s, "d1-a", t0); err != nil || !replayed {
				t.Errorf("refund again: replayed=%v %v", replayed, err)
			}
			// A held order refunded (cancelled before it was settled) is released.
			if _, _, err := HoldFor(ctx, s, "d1-c", "eve", 1000, "EUR", t0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := Refund(ctx, s, "d1-c", t0); err != nil {
				t.Fatal(err)
			}
			st, _ = s.Statement(ctx, "eve", 20)
			if st.Balances["EUR"] != 5000 || st.Held["EUR"] != 0 {
				t.Errorf("statement after the refunds: balance %v held %v, want 5000 and 0", st.Balances, st.Held)
			}
			led, _ := s.Ledger(ctx)
			kinds := ""
			for _, e := range led {
				kinds += string(e.Kind) + " "
			}
			if want := "topup hold release hold capture refund hold release "; kinds != want {
				t.Errorf("ledger kinds %q, want %q", kinds, want)
			}
			checkLedger(t, s)
		})
	}
}

// TestConcurrentHoldsNeverOverdraw races 400 holds of one buyer whose
// balance covers 100, each retried once: exactly 100 orders are held,
// each once, and the balance is zero, not below.
func TestConcurrentHoldsNeverOverdraw(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			s := ts.store
			if _, _, err := s.Apply(ctx, topUp("fay", "k", 100*250)); err != nil {
				t.Fatal(err)
			}
			var held, refused atomic.Int64
			var wg sync.WaitGroup
			sem := make(chan struct{}, 32)
			for i := range 800 {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					_, changed, err := HoldFor(ctx, s, fmt.Sprintf("d1-%d", i/2), "fay", 250, "EUR", t0)
					switch {
					case err == nil && changed:
						held.Add(1)
					case err == nil:
					case errors.Is(err, ErrInsufficient):
						refused.Add(1)
					default:
						t.Errorf("hold %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			if held.Load() != 100 {
				t.Errorf("%d holds taken, want 100", held.Load())
			}
			st, _ := s.Statement(ctx, "fay", 1)
			if st.Balances["EUR"] != 0 || st.Held["EUR"] != 100*250 {
				t.Errorf("balance %v held %v, want 0 and 25000", st.Balances, st.Held)
			}
			checkLedger(t, s)
		})
	}
}

type fakeOrders map[string]checkout.Order

func (f fakeOrders) Order(_ context.Context, id string) (checkout.Order, error) {
	if o, ok := f[id]; ok {
		return o, nil
	}
	return checkout.Order{}, checkout.ErrNotFound
}

// TestReconcilerReleasesHoldsNothingSettles: old holds whose order was
// cancelled or never stored go back to the balance; a pending order's
// hold, a fresh hold and a settled one are left alone; a paid wallet
// order's unsettled hold is settled.
func TestReconcilerReleasesHoldsNothingSettles(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			s := ts.store
			if _, _, err := s.Apply(ctx, topUp("gil", "k", 10_000)); err != nil {
				t.Fatal(err)
			}
			orders := fakeOrders{
				"d1-cancelled": {ID: "d1-cancelled", Status: checkout.StatusCancelled, Pay: MethodWallet},
				"d1-pending":   {ID: "d1-pending", Status: checkout.StatusPending, Pay: MethodWallet},
				"d1-paid":      {ID: "d1-paid", Status: checkout.StatusPaid, Pay: MethodWallet},
				"d1-captured":  {ID: "d1-captured", Status: checkout.StatusPaid, Pay: MethodWallet},
			}
			for _, id := range []string{"d1-cancelled", "d1-pending", "d1-paid", "d1-captured", "d1-never"} {
				if _, _, err := HoldFor(ctx, s, id, "gil", 1000, "EUR", t0); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := HoldFor(ctx, s, "d1-fresh", "gil", 1000, "EUR", t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := CaptureHold(ctx, s, "d1-captured", t0); err != nil {
				t.Fatal(err)
			}
			m, _ := NewMetrics(nil)
			now := func() time.Time { return t0.Add(30 * time.Minute) }
			r := NewReconciler(s, orders, 20*time.Minute, time.Second, now, m, slog.New(slog.DiscardHandler))
			n, err := r.Pass(ctx)
			if err != nil || n != 2 {
				t.Fatalf("pass: released %d %v, want 2 (cancelled, never stored)", n, err)
			}
			want := map[string]string{"d1-cancelled": HoldReleased, "d1-never": HoldReleased, "d1-pending": HoldHeld,
				"d1-fresh": HoldHeld, "d1-paid": HoldCaptured, "d1-captured": HoldCaptured}
			for id, state := range want {
				raw, _ := s.HoldOf(ctx, id)
				if r, _ := decodeHold(raw); r.State != state {
					t.Errorf("%s: %s, want %s", id, r.State, state)
				}
			}
			if n, _ := r.Pass(ctx); n != 0 {
				t.Errorf("a second pass released %d", n)
			}
			st, _ := s.Statement(ctx, "gil", 1)
			if st.Balances["EUR"] != 10_000-4000 || st.Held["EUR"] != 2000 {
				t.Errorf("balance %v held %v, want 6000 and 2000", st.Balances, st.Held)
			}
			checkLedger(t, s)
		})
	}
}
