package wallet

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
)

// bidRig is an auction paid from wallet store s: an in-memory lot store on
// a clock the test moves, an embedded order store, an edge and a closer
// that take holds at holdOn, with lots started and wallets topped up.
type bidRig struct {
	lots   *auction.MemStore
	orders *checkout.MemStore
	edge   *auction.Edge
	closer *auction.Closer

	mu    sync.Mutex
	clock time.Time
}

func newBidRig(t *testing.T, s Store, holdOn string, cm *auction.CloserMetrics, lots []string, topUps map[string]int64) *bidRig {
	t.Helper()
	ctx := context.Background()
	r := &bidRig{clock: time.Now()}
	r.lots = auction.NewMemStore(r.now)
	orders, err := checkout.OpenMemStore(t.TempDir()+"/store.journal", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { orders.Close() })
	r.orders = orders
	m, _ := NewMetrics(nil)
	pay := NewPayments(checkout.NewTestProvider(checkout.PaymentConfig{}), s, m, time.Now, slog.New(slog.DiscardHandler))
	if r.edge, err = auction.NewEdge(auction.EdgeParams{Store: r.lots, Payments: pay, HoldOn: holdOn}); err != nil {
		t.Fatal(err)
	}
	if r.closer, err = auction.NewCloser(auction.CloserParams{Store: r.lots, Orders: orders, Payments: pay, HoldOn: holdOn, Metrics: cm}); err != nil {
		t.Fatal(err)
	}
	for _, id := range lots {
		lot := auction.Lot{ID: id, Title: "Guitar " + id, Currency: "EUR", StartCents: 1000, DurationMS: 60_000}
		lot.Normalize()
		if err := r.lots.Create(ctx, lot); err != nil {
			t.Fatal(err)
		}
		if _, err := r.lots.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for who, cents := range topUps {
		if _, _, err := s.Apply(ctx, topUp(who, "k", cents)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *bidRig) now() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.clock }

// advance moves the lots' clock on by d.
func (r *bidRig) advance(d time.Duration) { r.mu.Lock(); r.clock = r.clock.Add(d); r.mu.Unlock() }
