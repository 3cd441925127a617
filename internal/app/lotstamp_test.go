package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/internal/redistest"
	"github.com/livedrop/livedrop/overlay"
)

// noDrops is a DropSource without drops (lots need none).
type noDrops struct{}

func (noDrops) Drop(context.Context, string) (checkout.Drop, error) {
	return checkout.Drop{}, errors.New("no drops here")
}
func (noDrops) Totals(context.Context, string) (checkout.Totals, error) {
	return checkout.Totals{}, errors.New("no drops here")
}

// TestLotStamperPublishesLotChanges: on both lot stores, the origin's
// stamper turns a bid into a lot event on the lot's stream, stamped with
// that stream's media clock, the leader masked; a lot on no stream, or
// on another stream, sends nothing on this one.
func TestLotStamperPublishesLotChanges(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) auction.Store{
		"mem": func(*testing.T) auction.Store { return auction.NewMemStore(nil) },
		"redis": func(t *testing.T) auction.Store {
			srv := redistest.Start(t, redistest.Options{})
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { rdb.Close() })
			return auction.NewRedisStore(rdb)
		},
	} {
		t.Run(name, func(t *testing.T) {
			lots := open(t)
			create := func(ctx context.Context, id, stream string) {
				t.Helper()
				l := auction.Lot{ID: id, Title: "Tee", Stream: stream, Currency: "EUR", StartCents: 1000, DurationMS: 60_000}
				l.Normalize()
				if err := lots.Create(ctx, l); err != nil {
					t.Fatal(err)
				}
				if _, err := lots.Start(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			ctx, _, next := followStamps(t, "lot",
				func(hub *overlay.OriginHub) interface{ Run(context.Context) error } {
					return newLotStamper(lots, hub, slog.New(slog.DiscardHandler))
				},
				func(ctx context.Context, i int) { create(ctx, fmt.Sprint("probe-", i), "cam1") })

			create(ctx, "elsewhere", "cam2")
			create(ctx, "nostream", "")
			create(ctx, "tee", "cam1")
			m := next()
			if m.Type != overlay.TypeLot || m.Lot.ID != "tee" || m.Lot.State != overlay.LotLive || m.Lot.Bids != 0 {
				t.Fatalf("started lot: %+v (%+v)", m, m.Lot)
			}
			if _, err := lots.Bid(ctx, auction.BidRequest{Lot: "tee", Key: "k1", Bid: auction.Bid{Buyer: "annabelle@example.com", AmountCents: 1000}}); err != nil {
				t.Fatal(err)
			}
			m = next()
			if m.MediaTS == nil || *m.MediaTS != 4242 {
				t.Fatalf("lot event at media_ts %v, want the stream's clock 4242", m.MediaTS)
			}
			if l := m.Lot; l.ID != "tee" || l.PriceCents != 1000 || l.Leader != "a***e" || l.Bids != 1 || l.MinCents != 1100 || l.Currency != "EUR" {
				t.Fatalf("lot after the bid: %+v", *l)
			}
			if _, err := lots.End(ctx, "tee"); err != nil {
				t.Fatal(err)
			}
			if m = next(); m.Lot.State != overlay.LotEnded {
				t.Fatalf("lot after the hammer: %+v", *m.Lot)
			}
		})
	}
}
