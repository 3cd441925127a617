package auction

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/internal/redistest"
)

// stores runs f against a MemStore and a RedisStore on a real Redis.
func stores(t *testing.T, f func(t *testing.T, s Store)) {
	t.Run("mem", func(t *testing.T) { f(t, NewMemStore(nil)) })
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{})
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { rdb.Close() })
		f(t, NewRedisStore(rdb))
	})
}

func createLive(t *testing.T, s Store, l Lot) Snapshot {
	t.Helper()
	ctx := context.Background()
	l.Normalize()
	if err := s.Create(ctx, l); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Start(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestStoreBids(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		l := testLot()
		if err := s.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, l); !errors.Is(err, ErrExists) {
			t.Fatalf("second create: %v", err)
		}
		if a, err := s.Bid(ctx, BidRequest{Lot: "l1", Key: "k0", Bid: Bid{Buyer: "a", AmountCents: 900}}); err != nil || a.Result != NotStarted {
			t.Fatalf("bid before start: %+v %v", a, err)
		}
		snap, err := s.Start(ctx, "l1")
		if err != nil || snap.State.Phase != PhaseLive || snap.State.EndsMS == 0 {
			t.Fatalf("start: %+v %v", snap, err)
		}
		a, err := s.Bid(ctx, BidRequest{Lot: "l1", Key: "k1", Bid: Bid{Buyer: "a", MaxCents: 1000}})
		if err != nil || a.Result != Accepted || a.State.PriceCents != 500 || !a.First {
			t.Fatalf("first bid: %+v %v", a, err)
		}
		a, err = s.Bid(ctx, BidRequest{Lot: "l1", Key: "k2", Bid: Bid{Buyer: "b", AmountCents: 600}})
		if err != nil || a.Result != Outbid || a.State.PriceCents != 650 || a.State.Leader != "a" {
			t.Fatalf("outbid: %+v %v", a, err)
		}
		// A retry with the same key answers the first answer, and counts once.
		again, err := s.Bid(ctx, BidRequest{Lot: "l1", Key: "k2", Bid: Bid{Buyer: "b", AmountCents: 600}})
		if err != nil || !again.Replay || again.Result != Outbid || again.State.PriceCents != 650 {
			t.Fatalf("retry: %+v %v", again, err)
		}
		a, err = s.Bid(ctx, BidRequest{Lot: "l1", Key: "k3", Bid: Bid{Buyer: "b", AmountCents: 650}})
		if err != nil || a.Result != TooLow || a.First {
			t.Fatalf("too low: %+v %v", a, err)
		}
		a, err = s.Bid(ctx, BidRequest{Lot: "l1", Key: "k4", Bid: Bid{Buyer: "b", MaxCents: 3000}})
		if err != nil || a.Result != Accepted || a.State.PriceCents != 1100 || a.State.Leader != "b" || a.First {
			t.Fatalf("b leads: %+v %v", a, err)
		}
		log, err := s.Log(ctx, "l1")
		if err != nil || len(log) != 5 {
			t.Fatalf("log: %d records, %v", len(log), err)
		}
		if log[4].Result != Accepted || log[4].Leader != "b" || log[4].Price != 1100 || log[4].PrevPrice != 650 {
			t.Fatalf("last record: %+v", log[4])
		}
		got, err := s.Lot(ctx, "l1")
		if err != nil || got.State.LeaderMax != 3000 || got.State.Bids != 3 || got.Lot.Increments.Step(1000) != 100 {
			t.Fatalf("lot: %+v %v", got, err)
		}
		if _, err := s.Bid(ctx, BidRequest{Lot: "nope", Bid: Bid{Buyer: "a", AmountCents: 1}}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown lot: %v", err)
		}
		if _, err := s.Bid(ctx, BidRequest{Lot: "l1", Bid: Bid{Buyer: "a"}}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty bid: %v", err)
		}
	})
}

func TestStoreEndAndFinish(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		createLive(t, s, Lot{ID: "e1", Currency: "EUR", StartCents: 100, DurationMS: 60_000})
		if _, ok, err := s.Finish(ctx, "e1"); err != nil || ok {
			t.Fatalf("finish while live: %v %v", ok, err)
		}
		if _, err := s.Bid(ctx, BidRequest{Lot: "e1", Key: "x", Bid: Bid{Buyer: "a", AmountCents: 100}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.End(ctx, "e1"); err != nil {
			t.Fatal(err)
		}
		a, err := s.Bid(ctx, BidRequest{Lot: "e1", Key: "y", Bid: Bid{Buyer: "b", AmountCents: 500}})
		if err != nil || a.Result != AuctionOver {
			t.Fatalf("bid after the hammer: %+v %v", a, err)
		}
		snap, ok, err := s.Finish(ctx, "e1")
		if err != nil || !ok || snap.State.Phase != PhaseEnded || snap.State.Leader != "a" || snap.State.PriceCents != 100 {
			t.Fatalf("finish: %+v %v %v", snap, ok, err)
		}
		if err := s.SetOrder(ctx, "e1", "o1"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetHold(ctx, "e1", "a", "auth1"); err != nil {
			t.Fatal(err)
		}
		if h, err := s.Holds(ctx, "e1"); err != nil || h["a"] != "auth1" {
			t.Fatalf("holds %v %v", h, err)
		}
		if ids, _ := s.Open(ctx); len(ids) != 1 {
			t.Fatalf("open lots %v", ids)
		}
		if first, err := s.Close(ctx, "e1"); err != nil || !first {
			t.Fatalf("close: %v %v, want the first", first, err)
		}
		if first, err := s.Close(ctx, "e1"); err != nil || first {
			t.Fatalf("second close: %v %v, want not the first", first, err)
		}
		if ids, _ := s.Open(ctx); len(ids) != 0 {
			t.Fatalf("open lots after close %v", ids)
		}
		if snap, _ := s.Lot(ctx, "e1"); snap.OrderID != "o1" || !snap.Closed {
			t.Fatalf("order id %q, closed %v", snap.OrderID, snap.Closed)
		}
	})
}

// TestStoreConcurrentBidsOneWinner: many buyers bid at once; the store
// decides them one at a time, and replaying its log through Resolve gives
// the same state (the Lua script and the Go rules agree).
func TestStoreConcurrentBidsOneWinner(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		l := Lot{ID: "c1", Currency: "EUR", StartCents: 100, ReserveCents: 2000, DurationMS: 60_000}
		snap := createLive(t, s, l)
		l = snap.Lot
		var wg sync.WaitGroup
		for b := range 40 {
			wg.Go(func() {
				for i := range 10 {
					bid := Bid{Buyer: fmt.Sprintf("buyer%02d", b), AmountCents: int64(100 + 37*i + b)}
					if i%3 == 0 {
						bid = Bid{Buyer: bid.Buyer, MaxCents: int64(500 + 97*i + 13*b)}
					}
					if _, err := s.Bid(ctx, BidRequest{Lot: "c1", Key: fmt.Sprint(i), Bid: bid}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		log, err := s.Log(ctx, "c1")
		if err != nil || len(log) != 400 {
			t.Fatalf("log %d %v", len(log), err)
		}
		st := snap.State
		for i, r := range log {
			next, res := Resolve(l, st, r.Bid, r.AtMS)
			if res != r.Result || next.PriceCents != r.Price || next.Leader != r.Leader || next.EndsMS != r.EndsMS || next.Seq != r.Seq {
				t.Fatalf("record %d %+v: replay gives %s price %d leader %s ends %d", i, r, res, next.PriceCents, next.Leader, next.EndsMS)
			}
			st = next
		}
		got, _ := s.Lot(ctx, "c1")
		if got.State.PriceCents != st.PriceCents || got.State.Leader != st.Leader || got.State.LeaderMax != st.LeaderMax {
			t.Fatalf("store %+v, replay %+v", got.State, st)
		}
	})
}

func TestStoreSubscribe(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got := make(chan Snapshot, 16)
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Subscribe(ctx, func(sn Snapshot) { got <- sn }) }()
		l := Lot{ID: "s1", Currency: "EUR", StartCents: 100, DurationMS: 60_000}
		l.Normalize()
		if err := s.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
		// The subscription may not be live yet: start, then bid until an
		// update arrives.
		if _, err := s.Start(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(5 * time.Second)
		for i := 0; ; i++ {
			if _, err := s.Bid(ctx, BidRequest{Lot: "s1", Bid: Bid{Buyer: "a", MaxCents: int64(1000 + i)}}); err != nil {
				t.Fatal(err)
			}
			select {
			case sn := <-got:
				if sn.Lot.ID != "s1" || sn.Lot.Currency != "EUR" || sn.State.Phase != PhaseLive {
					t.Fatalf("update %+v", sn)
				}
				cancel()
				<-done
				return
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				t.Fatal("no update within 5 s")
			}
		}
	})
}
