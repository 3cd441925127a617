package giveaway_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/internal/redistest"
)

// backend is one giveaway store with the checkout store beside it, as the
// app pairs them (Redis with Redis, memory with the embedded store).
type backend struct {
	store  giveaway.Store
	orders checkout.Store
}

func backends(t *testing.T) map[string]backend {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	log := slog.New(slog.DiscardHandler)
	ms, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return map[string]backend{
		"redis":  {giveaway.NewRedisStore(rdb), checkout.NewRedisStore(rdb, log)},
		"memory": {giveaway.NewMemStore(), ms},
	}
}

func TestStoreEntriesOncePerBuyerAndClosedAtTheDraw(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := b.store
			r := giveaway.Record{Info: giveaway.Info{ID: "g1", Stream: "demo", Rule: giveaway.RulePresent}, SecretSeed: "00"}
			if err := st.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := st.Create(ctx, r); !errors.Is(err, giveaway.ErrExists) {
				t.Fatalf("second create: %v", err)
			}
			if _, err := st.Enter(ctx, "nope", "b1"); !errors.Is(err, giveaway.ErrNotFound) {
				t.Fatalf("enter unknown: %v", err)
			}
			var wg sync.WaitGroup
			for i := range 20 { // 10 buyers, each twice at once
				wg.Go(func() {
					if _, err := st.Enter(ctx, "g1", fmt.Sprintf("b%d", i%10)); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if added, err := st.Enter(ctx, "g1", "b0"); err != nil || added {
				t.Fatalf("entering again: %v %v, want not new", added, err)
			}
			got, _, drawn, err := st.Get(ctx, "g1")
			if err != nil || drawn || got.Info.Entrants != 10 || got.SecretSeed != "00" {
				t.Fatalf("get: %+v drawn=%v %v", got, drawn, err)
			}
			list, err := st.Close(ctx, "g1")
			if err != nil || len(list) != 10 || list[0] != "b0" || list[9] != "b9" {
				t.Fatalf("close: %v %v", list, err)
			}
			if _, err := st.Enter(ctx, "g1", "late"); !errors.Is(err, giveaway.ErrClosed) {
				t.Fatalf("entry after close: %v", err)
			}
			first, err := st.SetResult(ctx, "g1", giveaway.Result{Winner: "b3", Order: "o", Entrants: list})
			if err != nil || first.Winner != "b3" {
				t.Fatal(first, err)
			}
			if again, err := st.SetResult(ctx, "g1", giveaway.Result{Winner: "b4"}); err != nil || again.Winner != "b3" || len(again.Entrants) != 10 {
				t.Fatalf("second result: %+v %v, want the first kept", again, err)
			}
			if id, err := st.Latest(ctx, "demo"); err != nil || id != "g1" {
				t.Fatalf("latest of demo: %q %v", id, err)
			}
			if id, err := st.Latest(ctx, "quiet"); err != nil || id != "" {
				t.Fatalf("latest of a stream without one: %q %v", id, err)
			}
			if _, res, drawn, err := st.Get(ctx, "g1"); err != nil || !drawn || res.Winner != "b3" {
				t.Fatalf("get after: %+v %v %v", res, drawn, err)
			}
		})
	}
}

// TestDrawGivesTheWinnerAZeroPriceOrder: on each backend the revealed
// seed reproduces the winner, only eligible buyers got in, and the winner
// has a paid zero-price order for pickup in the checkout store.
func TestDrawGivesTheWinnerAZeroPriceOrder(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			g, err := giveaway.New(giveaway.Params{Store: b.store, Orders: b.orders})
			if err != nil {
				t.Fatal(err)
			}
			start, err := g.Start(ctx, giveaway.StartParams{ID: "cap", Stream: "demo", Prize: "A cap", Rule: giveaway.RuleVerified,
				Fulfilment: checkout.FulfilmentPickup})
			if err != nil || len(start.Commitment) != 64 || start.Seed != "" {
				t.Fatalf("start: %+v %v", start, err)
			}
			if _, err := g.Draw(ctx, "cap"); !errors.Is(err, giveaway.ErrNoEntrants) {
				t.Fatalf("draw with nobody in: %v", err)
			}
			if _, err := g.Enter(ctx, "cap", giveaway.Entrant{Buyer: "guest", Present: true}); !errors.Is(err, giveaway.ErrNotEligible) {
				t.Fatalf("guest entered a verified giveaway: %v", err)
			}
			for i := range 5 {
				if _, err := g.Enter(ctx, "cap", giveaway.Entrant{Buyer: fmt.Sprintf("e%d", i), Present: true, Verified: true}); err != nil {
					t.Fatal(err)
				}
			}
			v, err := g.Draw(ctx, "cap")
			if err != nil {
				t.Fatal(err)
			}
			seed := mustHex(t, v.Seed)
			if !giveaway.Verify("cap", start.Commitment, seed, v.EntrantIDs, v.Winner) || len(v.EntrantIDs) != 5 {
				t.Fatalf("draw %+v does not verify against the start's commitment", v)
			}
			if again, err := g.Draw(ctx, "cap"); err != nil || again.Winner != v.Winner || again.Order != v.Order {
				t.Fatalf("second draw: %+v %v", again, err)
			}
			o, err := b.orders.Order(ctx, v.Order)
			if err != nil {
				t.Fatal(err)
			}
			if o.Buyer != v.Winner || o.TotalCents != 0 || o.Status != checkout.StatusPaid || o.Fulfilment != checkout.FulfilmentPickup || o.Qty != 1 {
				t.Fatalf("winner's order %+v", o)
			}
			mine, err := b.orders.BuyerOrders(ctx, v.Winner, 10)
			if err != nil || len(mine) != 1 || mine[0].ID != o.ID {
				t.Fatalf("winner's orders: %v %v", mine, err)
			}
		})
	}
}
