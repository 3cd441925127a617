package pickup_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/internal/redistest"
)

// stores are both Store implementations, the Redis one on a redis-server
// the test starts.
func stores(t *testing.T) map[string]pickup.Store {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return map[string]pickup.Store{"redis": pickup.NewRedisStore(rdb), "memory": pickup.NewMemStore()}
}

func testCodes(t *testing.T) *pickup.Codes {
	t.Helper()
	c, err := pickup.NewCodes([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCodeIsStableShortAndTypeable(t *testing.T) {
	c := testCodes(t)
	a := c.Code("d1.aaaaaaaaaaaaaaaaaaaaaaaa")
	if a != c.Code("d1.aaaaaaaaaaaaaaaaaaaaaaaa") || len(a) != pickup.CodeLen {
		t.Fatalf("code %q: want a stable %d-character code", a, pickup.CodeLen)
	}
	if a == c.Code("d1.aaaaaaaaaaaaaaaaaaaaaaab") {
		t.Fatal("two orders got one code")
	}
	other, _ := pickup.NewCodes([]byte("another key, 16 bytes or more"))
	if a == other.Code("d1.aaaaaaaaaaaaaaaaaaaaaaaa") {
		t.Fatal("the code does not depend on the key")
	}
	for _, in := range []string{a, strings.ToLower(a), pickup.Display(a), " " + strings.ToLower(pickup.Display(a)) + " "} {
		if got, ok := pickup.Normalize(in); !ok || got != a {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, ok, a)
		}
	}
	for _, bad := range []string{"", "ABCD", "ABCDEFGO", "ABCDEFG1", "ABCDEFGHJ", "ABCD_EFG"} {
		if _, ok := pickup.Normalize(bad); ok {
			t.Errorf("Normalize(%q) accepted", bad)
		}
	}
}

func TestStoreCollectsOncePerCode(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
			c := pickup.Collection{Code: "ABCDEFGH", Desk: "desk-a", At: at, Order: "d1.x"}
			if r, err := st.Collect(ctx, c); err != nil || r.Outcome != pickup.Collected || !r.New || r.First.Desk != "desk-a" {
				t.Fatalf("first collect: %+v %v", r, err)
			}
			if r, err := st.Collect(ctx, c); err != nil || r.Outcome != pickup.AlreadyCollectedHere || r.New {
				t.Fatalf("resent collect: %+v %v", r, err)
			}
			b := c
			b.Desk, b.At = "desk-b", at.Add(time.Minute)
			for i := range 2 { // a resent conflict is one conflict
				r, err := st.Collect(ctx, b)
				if err != nil || r.Outcome != pickup.Conflict || r.New != (i == 0) || r.First.Desk != "desk-a" || !r.First.At.Equal(at) {
					t.Fatalf("other desk, try %d: %+v %v", i, r, err)
				}
			}
			got, err := st.Collections(ctx, []string{"ABCDEFGH", "ZZZZZZZZ"})
			if err != nil || len(got) != 1 || got["ABCDEFGH"].Desk != "desk-a" {
				t.Fatalf("collections: %+v %v", got, err)
			}
			cf, err := st.Conflicts(ctx, "ABCDEFGH")
			if err != nil || len(cf) != 1 || cf[0].Desk != "desk-b" {
				t.Fatalf("conflicts: %+v %v", cf, err)
			}
		})
	}
}

// TestStoreConcurrentDesksOneWinner: desks syncing the same code at once
// record one collection; every other desk is a conflict.
func TestStoreConcurrentDesksOneWinner(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			outs := make([]pickup.Outcome, 8)
			for i := range outs {
				wg.Go(func() {
					r, err := st.Collect(context.Background(), pickup.Collection{Code: "QRSTUVWX", Desk: "desk-" + string(rune('a'+i)), At: time.Now()})
					if err != nil {
						t.Error(err)
					}
					outs[i] = r.Outcome
				})
			}
			wg.Wait()
			n := 0
			for _, o := range outs {
				if o == pickup.Collected {
					n++
				} else if o != pickup.Conflict {
					t.Errorf("outcome %q", o)
				}
			}
			if n != 1 {
				t.Fatalf("%d collections of one code, want 1 (%v)", n, outs)
			}
		})
	}
}

// fakeOrders are the orders of one drop, in the order recorded.
type fakeOrders []checkout.Order

func (f fakeOrders) PickupOrdersSince(_ context.Context, cursors map[string]int) ([]checkout.Order, map[string]int, error) {
	var out []checkout.Order
	for _, o := range f[min(cursors["d1"], len(f)):] {
		if o.Fulfilment == checkout.FulfilmentPickup {
			out = append(out, o)
		}
	}
	return out, map[string]int{"d1": len(f)}, nil
}

func (f fakeOrders) Order(_ context.Context, id string) (checkout.Order, error) {
	for _, o := range f {
		if o.ID == id {
			return o, nil
		}
	}
	return checkout.Order{}, checkout.ErrNotFound
}

func TestDesksListSyncAndLookup(t *testing.T) {
	now := time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)
	orders := fakeOrders{
		{ID: "d1.aaaaaaaaaaaaaaaaaaaaaaaa", Drop: "d1", SKU: "tee", Qty: 1, Status: checkout.StatusPaid, Fulfilment: checkout.FulfilmentPickup, CreatedAt: now.Add(-time.Hour)},
		{ID: "d1.bbbbbbbbbbbbbbbbbbbbbbbb", Drop: "d1", SKU: "tee", Qty: 2, Status: checkout.StatusPaid, Fulfilment: checkout.FulfilmentPickup, CreatedAt: now.Add(-26 * time.Hour)},
		{ID: "d1.cccccccccccccccccccccccc", Drop: "d1", SKU: "tee", Qty: 1, Status: checkout.StatusPaid, Fulfilment: checkout.FulfilmentPickup, CreatedAt: now.Add(48 * time.Hour)},
	}
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			reg := prometheus.NewRegistry()
			codes := testCodes(t)
			d, err := pickup.NewDesks(pickup.Params{Orders: orders, Codes: codes, Store: st, Now: func() time.Time { return now }, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			day, _ := d.ParseDay("")
			l, err := d.List(ctx, day)
			if err != nil || l.Day != "2026-12-07" || len(l.Items) != 2 { // yesterday's uncollected order too, not the future one
				t.Fatalf("list: %+v %v", l, err)
			}
			a, b := codes.Code(orders[0].ID), codes.Code(orders[1].ID)
			res, err := d.Sync(ctx, []pickup.Collection{
				{Code: pickup.Display(a), Desk: "desk-a", At: now},
				{Code: strings.ToLower(b), Desk: "desk-a", At: now},
				{Code: a, Desk: "desk-a", At: now},
				{Code: a, Desk: "desk-b", At: now},
				{Code: "ZZZZZZZZ", Desk: "desk-a", At: now},
				{Code: b, Desk: "bad desk", At: now},
				{Code: b, Desk: "desk-a", At: now.Add(time.Hour)},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"collected", "collected", "already_collected_here", "conflict", "unknown", "invalid", "invalid"}
			for i, r := range res {
				if r.Status != want[i] {
					t.Errorf("item %d: %q (%s), want %q", i, r.Status, r.Error, want[i])
				}
			}
			if got := testutil.ToFloat64(d.Collected()); got != 2 {
				t.Errorf("collected_total %v, want 2", got)
			}
			it, err := d.Lookup(ctx, a)
			if err != nil || it.Collected == nil || it.Collected.Desk != "desk-a" || len(it.Conflicts) != 1 || it.Conflicts[0].Desk != "desk-b" {
				t.Fatalf("lookup: %+v %v", it, err)
			}
			if _, err := d.Lookup(ctx, "ZZZZZZZZ"); err == nil {
				t.Fatal("unknown code found")
			}
			// Tomorrow's list leaves out what was collected today.
			l, err = d.List(ctx, day.Add(24*time.Hour))
			if err != nil || len(l.Items) != 0 {
				t.Fatalf("tomorrow: %+v %v", l, err)
			}
			if _, err := d.Sync(ctx, nil); err == nil {
				t.Fatal("empty sync accepted")
			}
		})
	}
}

// TestSyncResentIsIdempotent: a desk whose sync answer was lost sends the
// same collections again (same desk, code and collection id): it is told
// the same results, and nothing is counted or stored twice; a second
// hand-over attempt at the other desk (a new id) is a second conflict.
func TestSyncResentIsIdempotent(t *testing.T) {
	now := time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)
	orders := fakeOrders{
		{ID: "d1.aaaaaaaaaaaaaaaaaaaaaaaa", Drop: "d1", SKU: "tee", Qty: 1, Status: checkout.StatusPaid, Fulfilment: checkout.FulfilmentPickup, CreatedAt: now.Add(-time.Hour)},
	}
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			codes := testCodes(t)
			d, err := pickup.NewDesks(pickup.Params{Orders: orders, Codes: codes, Store: st, Now: func() time.Time { return now }, Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			a := codes.Code(orders[0].ID)
			syncOf := func(batch ...pickup.Collection) []string {
				t.Helper()
				res, err := d.Sync(ctx, batch)
				if err != nil {
					t.Fatal(err)
				}
				out := make([]string, len(res))
				for i, r := range res {
					out[i] = r.Status
					if r.ID != batch[i].ID {
						t.Errorf("result %d names collection %q, want %q", i, r.ID, batch[i].ID)
					}
				}
				return out
			}
			first := pickup.Collection{Code: a, Desk: "desk-a", At: now, ID: "c-1"}
			other := pickup.Collection{Code: a, Desk: "desk-b", At: now, ID: "c-7"}
			if got := syncOf(first); got[0] != "collected" {
				t.Fatalf("first sync: %v", got)
			}
			for range 2 {
				if got := syncOf(other); got[0] != "conflict" {
					t.Fatalf("desk b's sync: %v", got)
				}
			}
			for range 2 { // desk a's answer was lost: the same sync again
				if got := syncOf(first); got[0] != "collected" {
					t.Fatalf("resent sync: %v, want the first answer again", got)
				}
			}
			if c, f := testutil.ToFloat64(d.Collected()), testutil.ToFloat64(d.Conflicts()); c != 1 || f != 1 {
				t.Fatalf("collected_total %v conflicts_total %v, want 1 1", c, f)
			}
			cf, err := st.Conflicts(ctx, a)
			if err != nil || len(cf) != 1 || cf[0].Desk != "desk-b" || cf[0].ID != "c-7" {
				t.Fatalf("stored conflicts: %+v %v, want desk b's one", cf, err)
			}
			// Desk b tries again later: a new hand-over attempt, a new conflict.
			again := other
			again.ID, again.At = "c-8", now.Add(time.Minute)
			if got := syncOf(again); got[0] != "conflict" {
				t.Fatalf("desk b's second attempt: %v", got)
			}
			if cf, _ := st.Conflicts(ctx, a); len(cf) != 2 || testutil.ToFloat64(d.Conflicts()) != 2 {
				t.Fatalf("after a second attempt: %d stored, %v counted, want 2 2", len(cf), testutil.ToFloat64(d.Conflicts()))
			}
			if got := syncOf(pickup.Collection{Code: a, Desk: "desk-a", At: now, ID: "bad id!"}); got[0] != "invalid" {
				t.Fatalf("bad collection id: %v", got)
			}
		})
	}
}
