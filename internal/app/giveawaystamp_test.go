package app

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/internal/redistest"
	"github.com/livedrop/livedrop/overlay"
)

// TestGiveawayStamperPublishesStartAndDraw: on both giveaway stores, the
// origin's stamper turns a start into a giveaway event with the seed's hash
// and a draw into one with the masked winner and the seed that re-runs the
// draw, stamped with the stream's media clock; a giveaway on another stream
// sends nothing on this one.
func TestGiveawayStamperPublishesStartAndDraw(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for name, open := range map[string]func(t *testing.T) (giveaway.Store, checkout.Store){
		"mem": func(t *testing.T) (giveaway.Store, checkout.Store) {
			ms, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ms.Close() })
			return giveaway.NewMemStore(), ms
		},
		"redis": func(t *testing.T) (giveaway.Store, checkout.Store) {
			srv := redistest.Start(t, redistest.Options{})
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { rdb.Close() })
			return giveaway.NewRedisStore(rdb), checkout.NewRedisStore(rdb, log)
		},
	} {
		t.Run(name, func(t *testing.T) {
			gs, orders := open(t)
			gw, err := giveaway.New(giveaway.Params{Store: gs, Orders: orders})
			if err != nil {
				t.Fatal(err)
			}
			start := func(ctx context.Context, id, stream string) giveaway.Info {
				t.Helper()
				i, err := gw.Start(ctx, giveaway.StartParams{ID: id, Stream: stream, Prize: "A cap", Rule: giveaway.RulePresent})
				if err != nil {
					t.Fatal(err)
				}
				return i
			}
			ctx, edge, next := followStamps(t, "giveaway",
				func(hub *overlay.OriginHub) interface{ Run(context.Context) error } {
					return newGiveawayStamper(gs, gw, hub, log)
				},
				func(ctx context.Context, i int) { start(ctx, fmt.Sprint("probe-", i), "cam1") })

			start(ctx, "elsewhere", "cam2")
			info := start(ctx, "cap", "cam1")
			m := next()
			if g := m.Giveaway; m.Type != overlay.TypeGiveaway || g.ID != "cap" || g.State != overlay.GiveawayOpen ||
				g.Commitment != info.Commitment || g.Prize != "A cap" || g.Seed != "" || g.Winner != "" {
				t.Fatalf("started giveaway: %+v (%+v)", m, m.Giveaway)
			}
			if m.MediaTS == nil || *m.MediaTS != 4242 {
				t.Fatalf("giveaway event at media_ts %v, want the stream's clock 4242", m.MediaTS)
			}
			for _, b := range []string{"annabelle@example.com", "bartholomew@example.com", "cornelius@example.com"} {
				if _, err := gw.Enter(ctx, "cap", giveaway.Entrant{Buyer: b, Present: true}); err != nil {
					t.Fatal(err)
				}
			}
			v, err := gw.Draw(ctx, "cap")
			if err != nil {
				t.Fatal(err)
			}
			m = next()
			g := m.Giveaway
			if g.ID != "cap" || g.State != overlay.GiveawayDrawn || g.Winner != giveaway.Mask(v.Winner) || g.Winner == v.Winner ||
				g.Entrants != 3 || g.EntrantsDigest != giveaway.EntrantsDigest(v.EntrantIDs) {
				t.Fatalf("drawn giveaway: %+v, want winner %s masked", *g, v.Winner)
			}
			seed, err := hex.DecodeString(g.Seed)
			if err != nil || !giveaway.Verify("cap", info.Commitment, seed, v.EntrantIDs, v.Winner) {
				t.Fatalf("the stamped seed %q does not re-run the draw (%v)", g.Seed, err)
			}
			if _, err := gw.Draw(ctx, "cap"); err != nil { // drawing again changes nothing on the stream
				t.Fatal(err)
			}
			select {
			case b := <-edge:
				t.Fatalf("a second draw stamped again: %s", b)
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
}
