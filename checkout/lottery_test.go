package checkout

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// testClock is a clock a test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func lotteryDrop(id string, stock, maxPer int, opensAt time.Time) Drop {
	d := testDrop(id, stock, maxPer)
	d.OpensAt = opensAt
	d.Lottery = &Lottery{WindowMs: 2000}
	return d
}

func newControlAt(t *testing.T, s Store, clock *testClock) *Control {
	t.Helper()
	ctl, err := NewControl(ControlParams{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Config: testConfig(), Store: s, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return ctl
}

func dropState(t *testing.T, s Store, id string) string {
	t.Helper()
	d, err := s.Drop(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d.State
}

// TestLotteryDraw is the test: 1,000 buyers ask in the window of a
// drop of 100 units; exactly 100 win, the draw recomputed from the
// published seed gives the same winners in the same order, the losers are
// waitlisted 1..900, and retries after the draw (any edge) get the same
// answer.
func TestLotteryDraw(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Now().UTC().Truncate(time.Millisecond)
			clock := &testClock{t: t0}
			h := &harness{store: s, ctl: newControlAt(t, s, clock)}
			run(t, h.ctl.Run)
			e1 := h.edge(t, "e1", testConfig(), nil)
			e2 := h.edge(t, "e2", testConfig(), nil)
			edges := []*Edge{e1, e2}
			d := lotteryDrop("lot1", 100, 1, t0.Add(time.Second))
			if _, err := h.ctl.CreateDrop(ctx, d); err != nil {
				t.Fatal(err)
			}
			if _, err := buy(e1, d.ID, "early", 1); !errors.Is(err, ErrNotOpen) {
				t.Fatalf("before opens_at: got %v, want not open", err)
			}
			clock.set(t0.Add(time.Second))
			eventually(t, 10*time.Second, "the window to open", func() bool { return dropState(t, s, d.ID) == StateDrawing })
			tot, err := h.ctl.Totals(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tot.Lottery == nil || len(tot.Lottery.SeedHash) != 64 || tot.Lottery.Seed != "" {
				t.Fatalf("while drawing the drop shows %+v, want a seed hash and no seed", tot.Lottery)
			}
			published := tot.Lottery.SeedHash

			const buyers = 1000
			entries := make([]string, buyers)
			var wg sync.WaitGroup
			errs := make(chan error, buyers)
			for i := range buyers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b := fmt.Sprintf("buyer%04d", i)
					_, err := buy(edges[i%2], d.ID, b, 1)
					var ee *EntryError
					if !errors.As(err, &ee) || ClassOf(err) != ClassInLine {
						errs <- fmt.Errorf("%s: got %v, want in line", b, err)
						return
					}
					entries[i] = ee.Entry.ID
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			// A retry through the other edge names the same entry.
			_, err = buy(e2, d.ID, "buyer0000", 1)
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Entry.ID != entries[0] || ee.SeedHash != published {
				t.Fatalf("retry in the window: %v", err)
			}
			if st := dropState(t, s, d.ID); st != StateDrawing {
				t.Fatalf("state %s during the window", st)
			}
			if tt := mustTotals(t, s, d.ID); tt.Sold != 0 || tt.HeldAtEdges != 0 {
				t.Fatalf("sold or leased during the window: %+v", tt)
			}

			clock.set(t0.Add(3 * time.Second))
			eventually(t, 20*time.Second, "the draw", func() bool { return dropState(t, s, d.ID) == StateOpen })
			tot, err = h.ctl.Totals(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			lot := tot.Lottery
			if lot == nil || !lot.Drawn || lot.SeedHash != published || lot.Entries != buyers {
				t.Fatalf("after the draw: %+v", lot)
			}
			seed, err := hex.DecodeString(lot.Seed)
			if err != nil || SeedHash(seed) != published {
				t.Fatalf("revealed seed %q does not hash to the published %s", lot.Seed, published)
			}
			if tot.SKUs[0].Sold != 100 || tot.SKUs[0].Free != 0 {
				t.Fatalf("totals after the draw: %+v, want 100 sold", tot.SKUs[0])
			}
			// Recompute the draw from the published seed.
			order := DrawOrder(seed, entries)
			for rank, id := range order {
				en, err := s.Entry(ctx, d.ID, id)
				if err != nil {
					t.Fatal(err)
				}
				if rank < 100 {
					if en.Result != EntryWon || en.Order != id {
						t.Fatalf("rank %d: %+v, want won", rank, en)
					}
					if o, err := s.Order(ctx, id); err != nil || o.Buyer != en.Buyer || o.Status == StatusCancelled {
						t.Fatalf("rank %d: order %+v %v", rank, o, err)
					}
				} else if en.Result != EntryLost || en.Place != rank-99 {
					t.Fatalf("rank %d: %+v, want lost at waitlist place %d", rank, en, rank-99)
				}
			}
			// Retries after the draw, through either edge: the same answer.
			byID := map[string]int{}
			for i, id := range entries {
				byID[id] = i
			}
			for _, rank := range []int{0, 57, 99, 100, 101, 500, 999} {
				i := byID[order[rank]]
				for _, e := range edges {
					o, err := buy(e, d.ID, fmt.Sprintf("buyer%04d", i), 1)
					if rank < 100 {
						if err != nil || o.ID != order[rank] {
							t.Fatalf("winner rank %d at %s: %+v %v", rank, e.ID(), o, err)
						}
						continue
					}
					var ee *EntryError
					if !errors.As(err, &ee) || !errors.Is(err, ErrSoldOut) || ee.Entry.Place != rank-99 {
						t.Fatalf("loser rank %d at %s: %v, want sold out, place %d", rank, e.ID(), err, rank-99)
					}
				}
				st, err := e1.Entry(ctx, fmt.Sprintf("buyer%04d", i), d.ID, order[rank])
				if err != nil || (rank < 100) != (st.Order != nil) || !st.Lottery.Drawn {
					t.Fatalf("entry rank %d: %+v %v", rank, st, err)
				}
				if _, err := e1.Entry(ctx, "someone-else", d.ID, order[rank]); !errors.Is(err, ErrNotFound) {
					t.Fatalf("another buyer read an entry: %v", err)
				}
			}
			// Somebody new after the draw: sold out, no entry.
			if _, err := buy(e1, d.ID, "late", 1); !errors.Is(err, ErrSoldOut) || errors.As(err, new(*EntryError)) {
				t.Fatalf("late buyer: %v", err)
			}
			if tt := mustTotals(t, s, d.ID); tt.Sold != 100 {
				t.Fatalf("sold %d after retries, want 100", tt.Sold)
			}
		})
	}
}

// failingAwards fails every Award after the first: an origin dying in the
// middle of a draw.
type failingAwards struct {
	Store
	mu    sync.Mutex
	calls int
}

func (f *failingAwards) Award(ctx context.Context, items []ShipItem) ([]ShipResult, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if n > 1 {
		return nil, fmt.Errorf("origin died: %w", ErrUnavailable)
	}
	return f.Store.Award(ctx, items)
}

// TestLotteryDrawRerun: a draw cut off after its first batch is run again
// by another control (a restarted origin; the embedded store reopened from
// its journal) and ends as if it had never stopped; a buyer with two
// entries wins once, the other is refused by the limit.
func TestLotteryDrawRerun(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.journal")
	ms, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	all := stores(t)
	all["embedded-restarted"] = ms
	for name, s := range all {
		t.Run(name, func(t *testing.T) {
			t0 := time.Now().UTC().Truncate(time.Millisecond)
			clock := &testClock{t: t0}
			fs := &failingAwards{Store: s}
			c1 := newControlAt(t, fs, clock)
			d := lotteryDrop("rerun", 50, 1, t0)
			if _, err := c1.CreateDrop(ctx, d); err != nil {
				t.Fatal(err)
			}
			info, err := c1.startLottery(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			enter := func(buyer, key string) {
				lims := limitsOf(d.SKUs[0], buyer, "", "")
				en := Entry{ID: OrderID(d.ID, buyer, key), Drop: d.ID, SKU: "tee", Qty: 1, Buyer: buyer, Limits: limitKeys(lims), Edge: "e1", At: t0}
				r, err := s.Enter(ctx, en, 10_000)
				if err != nil || r.Outcome != EnterNew {
					t.Fatalf("enter %s: %+v %v", buyer, r, err)
				}
				// The entry's answer carries the public record, so "in
				// line" needs no second read (which can fail under load).
				if r.Lottery.SeedHash != info.SeedHash || !r.Lottery.StartedAt.Equal(info.StartedAt) ||
					r.Lottery.WindowMs != info.WindowMs || r.Lottery.Seed != "" {
					t.Fatalf("enter %s: lottery %+v, want the public part of %+v", buyer, r.Lottery, info)
				}
				ids = append(ids, en.ID)
			}
			for i := range 400 {
				enter(fmt.Sprintf("b%03d", i), "k")
			}
			enter("twice", "k1")
			enter("twice", "k2")
			if r, err := s.Enter(ctx, Entry{ID: ids[0], Drop: d.ID, SKU: "tee", Qty: 1, Buyer: "b000", Edge: "e2"}, 10_000); err != nil || r.Outcome != EnterExists || r.Entry.Edge != "e1" ||
				r.Lottery.SeedHash != info.SeedHash {
				t.Fatalf("entering again: %+v %v", r, err)
			}
			cur, _ := s.Drop(ctx, d.ID)
			clock.set(t0.Add(3 * time.Second))
			if err := c1.draw(ctx, cur, info); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("first draw: %v, want it cut off", err)
			}
			if st := dropState(t, s, d.ID); st != StateDrawing {
				t.Fatalf("state %s after a cut-off draw", st)
			}
			if r, err := s.Enter(ctx, Entry{ID: "rerun.aaaaaaaaaaaaaaaaaaaaaaaa", Drop: d.ID, SKU: "tee", Qty: 1, Buyer: "late", Edge: "e1"}, 10_000); err != nil || r.Outcome != EnterClosed {
				t.Fatalf("entering after the window: %+v %v", r, err)
			}
			s2 := s
			if name == "embedded-restarted" {
				ms.Close()
				if s2, err = OpenMemStore(path, nil, testLogger(t)); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s2.Close() })
			}
			c2 := newControlAt(t, s2, clock)
			run(t, c2.Run)
			eventually(t, 20*time.Second, "the rerun draw", func() bool { return dropState(t, s2, d.ID) == StateOpen })
			lot, err := s2.Lottery(ctx, d.ID)
			if err != nil || lot.Seed != info.Seed {
				t.Fatalf("lottery after rerun: %+v %v", lot, err)
			}
			seed, _ := hex.DecodeString(lot.Seed)
			won, lost, limit := 0, 0, 0
			twiceWon := 0
			for _, id := range DrawOrder(seed, ids) {
				en, err := s2.Entry(ctx, d.ID, id)
				if err != nil {
					t.Fatal(err)
				}
				switch en.Result {
				case EntryWon:
					won++
					if en.Buyer == "twice" {
						twiceWon++
					}
					if lost > 0 {
						t.Fatalf("a winner after a loser in the draw order")
					}
				case EntryLost:
					lost++
					if en.Place != lost {
						t.Fatalf("waitlist place %d, want %d", en.Place, lost)
					}
				case EntryLimit:
					limit++
				default:
					t.Fatalf("entry %s has no result: %+v", id, en)
				}
			}
			if won != 50 || won+lost+limit != len(ids) || twiceWon > 1 || mustTotals(t, s2, d.ID).Sold != 50 {
				t.Fatalf("won %d lost %d limit %d (twice won %d), sold %d", won, lost, limit, twiceWon, mustTotals(t, s2, d.ID).Sold)
			}
			if !slices.Contains([]int{0, 1}, limit) {
				t.Fatalf("limit refusals %d", limit)
			}
		})
	}
}

func TestDropValidateOpening(t *testing.T) {
	at := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		mut  func(*Drop)
		want string // "" = valid
	}{
		{"none", func(d *Drop) {}, ""},
		{"opens_at alone", func(d *Drop) { d.OpensAt = at }, ""},
		{"lottery default window", func(d *Drop) { d.OpensAt, d.Lottery = at, &Lottery{} }, ""},
		{"lottery window", func(d *Drop) { d.OpensAt, d.Lottery = at, &Lottery{WindowMs: 5000} }, ""},
		{"lottery without opens_at", func(d *Drop) { d.Lottery = &Lottery{} }, "lottery needs opens_at"},
		{"window too short", func(d *Drop) { d.OpensAt, d.Lottery = at, &Lottery{WindowMs: 50} }, "lottery.window_ms must be"},
		{"window too long", func(d *Drop) { d.OpensAt, d.Lottery = at, &Lottery{WindowMs: MaxLotteryWindowMs + 1} }, "lottery.window_ms must be"},
		{"negative window", func(d *Drop) { d.OpensAt, d.Lottery = at, &Lottery{WindowMs: -1} }, "lottery.window_ms must be"},
		{"opens_at far past", func(d *Drop) { d.OpensAt = time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC) }, "opens_at must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := testDrop("d", 1, 0)
			tc.mut(&d)
			err := d.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want valid", err)
			case tc.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want invalid: %q", err, tc.want)
			}
		})
	}
	if (Lottery{}).Window() != 2*time.Second {
		t.Fatalf("default window %v, want 2s", (Lottery{}).Window())
	}
}

// TestScheduledOpening: a drop with opens_at and no lottery opens by
// itself once the clock reaches opens_at.
func TestScheduledOpening(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t0 := time.Now().UTC()
			clock := &testClock{t: t0}
			ctl := newControlAt(t, s, clock)
			run(t, ctl.Run)
			d := testDrop("sched", 5, 0)
			d.OpensAt = t0.Add(time.Minute)
			if _, err := ctl.CreateDrop(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			got, err := s.Drop(context.Background(), d.ID)
			if err != nil || !got.OpensAt.Equal(d.OpensAt) || got.Lottery != nil {
				t.Fatalf("stored drop %+v %v", got, err)
			}
			if st := dropState(t, s, d.ID); st != StateCreated {
				t.Fatalf("state %s before opens_at", st)
			}
			clock.set(t0.Add(time.Minute))
			eventually(t, 10*time.Second, "the scheduled opening", func() bool { return dropState(t, s, d.ID) == StateOpen })
		})
	}
}

// TestLotteryLeftoverStock: fewer entries than units: every entry wins,
// the drop then sells the rest as usual, and winners retrying through
// edges that hold leases get their order without stranding a unit.
func TestLotteryLeftoverStock(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			_, clock, t0, edges, d := lotteryInWindow(t, s, "left", 30, "w")
			clock.set(t0.Add(3 * time.Second))
			eventually(t, 20*time.Second, "the draw", func() bool { return dropState(t, s, d.ID) == StateOpen })
			eventually(t, 10*time.Second, "edges to lease", func() bool { return mustTotals(t, s, d.ID).HeldAtEdges > 0 })
			for i := range 3 {
				for _, e := range edges {
					o, err := buyUntilAnswered(e, d.ID, fmt.Sprintf("w%d", i), 1)
					if err != nil || o.ID != OrderID(d.ID, fmt.Sprintf("w%d", i), "k-"+fmt.Sprintf("w%d", i)) {
						t.Fatalf("winner %d retrying at %s: %+v %v", i, e.ID(), o, err)
					}
				}
			}
			for i := range 27 {
				if _, err := buyUntilAnswered(edges[i%2], d.ID, fmt.Sprintf("b%02d", i), 1); err != nil {
					t.Fatalf("buyer %d after the draw: %v", i, err)
				}
			}
			if _, err := buyUntilAnswered(edges[0], d.ID, "one-too-many", 1); !errors.Is(err, ErrSoldOut) {
				t.Fatalf("past the stock: %v", err)
			}
			settled(t, s, d.ID, 30)
		})
	}
}

// TestLotteryClosedInWindow: a drop the seller closes during its lottery
// window runs no draw; its entries read "closed" (refused as not open,
// with a reason) through any edge instead of "in line" forever, and
// nothing is sold.
func TestLotteryClosedInWindow(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h, clock, t0, edges, d := lotteryInWindow(t, s, "shut", 5, "c")
			if err := h.ctl.Close(ctx, d.ID); err != nil {
				t.Fatalf("close in the window: %v", err)
			}
			clock.set(t0.Add(5 * time.Second)) // past the window: no draw may run
			for i := range 3 {
				buyer := fmt.Sprintf("c%d", i)
				id := OrderID(d.ID, buyer, "k-"+buyer)
				for _, e := range edges {
					_, err := buy(e, d.ID, buyer, 1)
					var ee *EntryError
					if !errors.As(err, &ee) || ee.Entry.Result != EntryClosed || ClassOf(err) != ClassNotOpen ||
						!strings.Contains(err.Error(), "closed this drop before its opening draw") {
						t.Fatalf("retry of entry %d at %s after close: %v, want closed, not open", i, e.ID(), err)
					}
					st, err := e.Entry(ctx, buyer, d.ID, id)
					if err != nil || st.Entry.Result != EntryClosed || st.Order != nil {
						t.Fatalf("entry %d read at %s: %+v %v, want result closed", i, e.ID(), st, err)
					}
				}
			}
			if _, err := buy(edges[0], d.ID, "late", 1); ClassOf(err) != ClassNotOpen {
				t.Fatalf("a new order after close: %v, want not open", err)
			}
			if got := dropState(t, s, d.ID); got != StateClosed {
				t.Fatalf("state %s, want closed", got)
			}
			if tt := mustTotals(t, s, d.ID); tt.Sold != 0 || tt.Orders != 0 {
				t.Fatalf("totals %+v: nothing may be sold", tt)
			}
		})
	}
}

// lotteryInWindow starts a control on a fake clock and two edges, creates
// a lottery drop of stock units opening now, waits for its window, and
// enters buyers prefix0..prefix2 through alternate edges.
func lotteryInWindow(t *testing.T, s Store, id string, stock int, prefix string) (*harness, *testClock, time.Time, []*Edge, Drop) {
	t.Helper()
	t0 := time.Now().UTC()
	clock := &testClock{t: t0}
	h := &harness{store: s, ctl: newControlAt(t, s, clock)}
	run(t, h.ctl.Run)
	edges := []*Edge{h.edge(t, "e1", testConfig(), nil), h.edge(t, "e2", testConfig(), nil)}
	d := lotteryDrop(id, stock, 0, t0)
	if _, err := h.ctl.CreateDrop(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the window", func() bool { return dropState(t, s, d.ID) == StateDrawing })
	for i := range 3 {
		if _, err := buy(edges[i%2], d.ID, fmt.Sprintf("%s%d", prefix, i), 1); ClassOf(err) != ClassInLine {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	return h, clock, t0, edges, d
}
