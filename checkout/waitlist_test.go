package checkout

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// drawnSoldOut runs a lottery drop of stock units with n entrants (entered
// straight in the store, per-buyer limit 1) through the control's draw, and
// returns the harness, an edge and the entries by waitlist place (0: won).
func drawnSoldOut(t *testing.T, s Store, id string, stock, n int) (*harness, *Edge, Drop, []Entry, map[int]Entry) {
	t.Helper()
	ctx := context.Background()
	t0 := time.Now().UTC()
	clock := &testClock{t: t0}
	h := &harness{store: s, ctl: newControlAt(t, s, clock)}
	run(t, h.ctl.Run)
	e1 := h.edge(t, "e1", testConfig(), nil)
	d := lotteryDrop(id, stock, 1, t0)
	if _, err := h.ctl.CreateDrop(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the window", func() bool { return dropState(t, s, d.ID) == StateDrawing })
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				b := fmt.Sprintf("buyer%04d", i)
				if r, err := s.Enter(ctx, buyerEntry(d.ID, b, t0), MaxLotteryEntries); err != nil || r.Outcome != EnterNew {
					errs <- fmt.Errorf("enter %s: %+v %v", b, r, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	clock.set(t0.Add(3 * time.Second))
	eventually(t, 30*time.Second, "the draw", func() bool { return dropState(t, s, d.ID) == StateOpen })
	won, byPlace, rest := drawResults(t, s, d.ID)
	for _, en := range rest {
		t.Fatalf("entry %+v after the draw", en)
	}
	if len(won) != stock || len(byPlace) != n-stock {
		t.Fatalf("%d won and %d waitlisted, want %d and %d", len(won), len(byPlace), stock, n-stock)
	}
	return h, e1, d, won, byPlace
}

// TestWaitlistGetsReturnedUnits is the issue's test: 1,000 entrants, 100
// units, 100 winners; 5 winners are refunded with their stock returned, and
// waitlist places 1-5 get those units (an order each, nobody else: buyers
// tapping meanwhile are told sold out), place 6 still waits. A payment
// declined on an offered order sends its unit on to place 6.
func TestWaitlistGetsReturnedUnits(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h, e1, d, won, byPlace := drawnSoldOut(t, s, "wl"+name[:1], 100, 1000)
			if tt := mustTotals(t, s, d.ID); tt.Sold != 100 || tt.Free != 0 || tt.Waitlist != 900 {
				t.Fatalf("after the draw: %+v, want 100 sold, none free, 900 waited for", tt)
			}

			// Buyers who were not in the draw tap all along: every tap is
			// sold out, whatever comes back.
			stop := make(chan struct{})
			var taps, sold atomic.Int64
			var tappers sync.WaitGroup
			var stopOnce sync.Once
			stopTaps := func() { stopOnce.Do(func() { close(stop) }); tappers.Wait() }
			defer stopTaps() // a failure below stops them before the test ends
			for w := range 4 {
				tappers.Add(1)
				go func() {
					defer tappers.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						_, err := buy(e1, d.ID, fmt.Sprintf("late%d-%d", w, i), 1)
						taps.Add(1)
						if !errors.Is(err, ErrSoldOut) {
							sold.Add(1)
							t.Errorf("a tap outside the waitlist: %v, want sold out", err)
						}
						time.Sleep(5 * time.Millisecond) // pace the tappers; not a synchronisation
					}
				}()
			}
			for _, en := range won[:5] {
				o, err := h.ctl.RefundOrder(ctx, en.Order, true)
				if err != nil || (o.Status != StatusRefunded && o.Status != StatusCancelled) {
					t.Fatalf("refund %s: %+v %v", en.Order, o, err)
				}
			}
			for place := 1; place <= 5; place++ {
				en := byPlace[place]
				eventually(t, 10*time.Second, fmt.Sprintf("place %d's order", place), func() bool {
					got, err := s.Entry(ctx, d.ID, en.ID)
					return err == nil && got.Result == EntryWon
				})
				got, _ := s.Entry(ctx, d.ID, en.ID)
				if got.Order != en.ID || got.Place != place {
					t.Fatalf("place %d reads %+v, want won with its order and place", place, got)
				}
				o, err := s.Order(ctx, got.Order)
				if err != nil || o.Buyer != en.Buyer || o.Status == StatusCancelled || o.Edge != LotteryEdge {
					t.Fatalf("place %d's order %+v %v", place, o, err)
				}
			}
			for taps.Load() < 20 {
				time.Sleep(5 * time.Millisecond)
			}
			stopTaps()
			if sold.Load() != 0 {
				t.Fatalf("%d taps outside the waitlist were not refused", sold.Load())
			}
			tt := mustTotals(t, s, d.ID)
			if tt.Sold != 100 || tt.Free != 0 || tt.Waitlist != 895 {
				t.Fatalf("after the offers: %+v, want 100 sold, none free, 895 waited for", tt)
			}
			sixth := byPlace[6]
			if got, _ := s.Entry(ctx, d.ID, sixth.ID); got.Result != EntryLost || got.Place != 6 {
				t.Fatalf("place 6 reads %+v, want still waiting", got)
			}
			if w, err := s.Waiting(ctx, d.ID, 0, 1); err != nil || len(w) != 1 || w[0].ID != sixth.ID {
				t.Fatalf("first waiting %+v %v, want place 6", w, err)
			}
			// What the buyers see, through the edge: place 1 its order, place
			// 6 sold out with its place.
			first := byPlace[1]
			if o, err := buy(e1, d.ID, first.Buyer, 1); err != nil || o.ID != first.ID {
				t.Fatalf("place 1 taps again: %+v %v, want its order", o, err)
			}
			st, err := e1.Entry(ctx, first.Buyer, d.ID, first.ID)
			if err != nil || st.Order == nil || st.Entry.Place != 1 {
				t.Fatalf("place 1 reads its entry: %+v %v", st, err)
			}
			var ee *EntryError
			if _, err := buy(e1, d.ID, sixth.Buyer, 1); !errors.As(err, &ee) || !errors.Is(err, ErrSoldOut) || ee.Entry.Place != 6 {
				t.Fatalf("place 6 taps: %v, want sold out at place 6", err)
			}

			// Place 2's payment is declined: its unit goes on to place 6.
			if o, err := s.Cancel(ctx, byPlace[2].ID, "payment_declined"); err != nil || o.Status != StatusCancelled {
				t.Fatalf("decline place 2: %+v %v", o, err)
			}
			eventually(t, 10*time.Second, "place 6's order", func() bool {
				got, err := s.Entry(ctx, d.ID, sixth.ID)
				return err == nil && got.Result == EntryWon
			})
			if got, _ := s.Entry(ctx, d.ID, byPlace[7].ID); got.Result != EntryLost {
				t.Fatalf("place 7 reads %+v, want still waiting", got)
			}
			eventually(t, 10*time.Second, "6 offers counted", func() bool {
				return testutil.ToFloat64(h.ctl.waitlst.WithLabelValues("offered")) == 6
			})
		})
	}
}

// TestWaitlistGetsReturnedRSVPUnits: a lottery drop of 10 units, 3 held
// for RSVP tokens until a deadline after the draw; 20 entrants: the draw
// sells the open 7, and at the deadline the 3 unredeemed units go to
// waitlist places 1-3 (not back on sale), place 4 still waits.
func TestWaitlistGetsReturnedRSVPUnits(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := rsvpHarness(t, s, time.Now)
			e1 := rsvpEdge(t, h, "e1", time.Now)
			t0 := time.Now().UTC()
			d := lotteryDrop("wlr"+name[:1], 10, 1, t0.Add(time.Second))
			if _, err := h.ctl.CreateDrop(ctx, d); err != nil {
				t.Fatal(err)
			}
			deadline := t0.Add(6 * time.Second)
			if _, err := h.ctl.IssueRSVPs(ctx, d.ID, "tee", 3, deadline); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the window", func() bool { return dropState(t, s, d.ID) == StateDrawing })
			enterBuyers(t, s, d.ID, 20, t0)
			eventually(t, 15*time.Second, "the draw", func() bool { return dropState(t, s, d.ID) == StateOpen })
			if time.Now().After(deadline) {
				t.Fatal("the draw ended after the RSVP deadline: the test proves nothing on this machine")
			}
			if tt := mustTotals(t, s, d.ID); tt.Sold != 7 || tt.Reserved != 3 || tt.Waitlist != 13 {
				t.Fatalf("after the draw: %+v, want 7 sold, 3 reserved, 13 waited for", tt)
			}
			_, byPlace, _ := drawResults(t, s, d.ID)
			eventually(t, 20*time.Second, "places 1-3 to get the returned units", func() bool {
				for place := 1; place <= 3; place++ {
					if got, err := s.Entry(ctx, d.ID, byPlace[place].ID); err != nil || got.Result != EntryWon {
						return false
					}
				}
				return true
			})
			if _, err := buy(e1, d.ID, "late", 1); !errors.Is(err, ErrSoldOut) {
				t.Fatalf("a tap after the return: %v, want sold out", err)
			}
			if got, _ := s.Entry(ctx, d.ID, byPlace[4].ID); got.Result != EntryLost {
				t.Fatalf("place 4 reads %+v, want still waiting", got)
			}
			if tt := mustTotals(t, s, d.ID); tt.Sold != 10 || tt.Reserved != 0 || tt.Free != 0 || tt.Waitlist != 10 {
				t.Fatalf("after the return: %+v, want 10 sold, none reserved or free, 10 waited for", tt)
			}
		})
	}
}

// TestWaitlistReplays: the embedded store's journal replays a waitlist to
// the same state: the units waited for, who is still waiting, and the
// offered entries' results.
func TestWaitlistReplays(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.journal")
	ms, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	h, _, d, won, byPlace := drawnSoldOut(t, ms, "wlj", 10, 30)
	for _, en := range won[:2] {
		if _, err := h.ctl.RefundOrder(ctx, en.Order, true); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "places 1-2 offered", func() bool {
		got, err := ms.Entry(ctx, d.ID, byPlace[2].ID)
		return err == nil && got.Result == EntryWon
	})
	wantTotals := mustTotals(t, ms, d.ID)
	wantWaiting, err := ms.Waiting(ctx, d.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := mustTotals(t, again, d.ID); got != wantTotals || got.Waitlist != 18 {
		t.Fatalf("replayed totals %+v, want %+v (18 waited for)", got, wantTotals)
	}
	gotWaiting, err := again.Waiting(ctx, d.ID, 0, 100)
	if err != nil || len(gotWaiting) != len(wantWaiting) || gotWaiting[0].Place != 3 {
		t.Fatalf("replayed waitlist %d entries from place %v (%v), want %d from place 3", len(gotWaiting), gotWaiting, err, len(wantWaiting))
	}
	for place := 1; place <= 2; place++ {
		if got, err := again.Entry(ctx, d.ID, byPlace[place].ID); err != nil || got.Result != EntryWon || got.Place != place {
			t.Fatalf("replayed place %d: %+v %v", place, got, err)
		}
	}
}

// TestWaitlistSkipsAPlaceOverItsLimit: waitlist place 1 buys meanwhile
// with an RSVP token (its one unit per buyer); a unit that comes back is
// refused to it by the limit (it leaves the waitlist, result limit) and
// goes to place 2.
func TestWaitlistSkipsAPlaceOverItsLimit(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := rsvpHarness(t, s, time.Now)
			e1 := rsvpEdge(t, h, "e1", time.Now)
			t0 := time.Now().UTC()
			d := lotteryDrop("wll"+name[:1], 10, 1, t0.Add(time.Second))
			if _, err := h.ctl.CreateDrop(ctx, d); err != nil {
				t.Fatal(err)
			}
			b, err := h.ctl.IssueRSVPs(ctx, d.ID, "tee", 1, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the window", func() bool { return dropState(t, s, d.ID) == StateDrawing })
			enterBuyers(t, s, d.ID, 20, t0)
			eventually(t, 15*time.Second, "the draw", func() bool { return dropState(t, s, d.ID) == StateOpen })
			won, byPlace, _ := drawResults(t, s, d.ID)
			if len(won) != 9 || len(byPlace) != 11 {
				t.Fatalf("%d won, %d waitlisted, want 9 and 11", len(won), len(byPlace))
			}
			first, second := byPlace[1], byPlace[2]
			if _, err := buyRSVP(e1, d.ID, first.Buyer, "rsvp-"+first.Buyer, b.Tokens[0].Token); err != nil {
				t.Fatalf("place 1 buys with the RSVP token: %v", err)
			}
			if _, err := h.ctl.RefundOrder(ctx, won[0].Order, true); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "place 2's order", func() bool {
				got, err := s.Entry(ctx, d.ID, second.ID)
				return err == nil && got.Result == EntryWon
			})
			if got, _ := s.Entry(ctx, d.ID, first.ID); got.Result != EntryLimit {
				t.Fatalf("place 1 reads %+v, want limit (it bought its one unit meanwhile)", got)
			}
			if w, err := s.Waiting(ctx, d.ID, 0, 1); err != nil || len(w) != 1 || w[0].Place != 3 {
				t.Fatalf("first waiting %+v %v, want place 3", w, err)
			}
			if n := testutil.ToFloat64(h.ctl.waitlst.WithLabelValues("limit")); n != 1 {
				t.Fatalf("limit offers counted %v, want 1", n)
			}
			if tt := mustTotals(t, s, d.ID); tt.Sold != 10 || tt.Free != 0 || tt.Waitlist != 9 {
				t.Fatalf("totals %+v, want 10 sold, none free, 9 waited for", tt)
			}
		})
	}
}
