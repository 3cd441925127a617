package auction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/redistest"
)

// meeting makes two closers settle each lot together, as an origin and
// its standby ticking at the same moment: a closer's Close waits until
// both have read the lot ended and not yet closed.
type meeting struct {
	mu   sync.Mutex
	seen map[string]map[string]bool // lot -> closers that read it open
	met  map[string]chan struct{}   // lot -> closed when both have
}

func (m *meeting) ch(id string) chan struct{} {
	if m.met[id] == nil {
		m.met[id] = make(chan struct{})
	}
	return m.met[id]
}

func (m *meeting) arrive(id, closer string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[id] == nil {
		m.seen[id] = map[string]bool{}
	}
	m.seen[id][closer] = true
	if len(m.seen[id]) == 2 {
		select {
		case <-m.ch(id):
		default:
			close(m.ch(id))
		}
	}
}

func (m *meeting) wait(ctx context.Context, id string) error {
	m.mu.Lock()
	ch := m.ch(id)
	m.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return fmt.Errorf("lot %s: the other closer never read it open", id)
	}
}

// metStore is one closer's view of the lot store, through the meeting.
type metStore struct {
	Store
	name string
	m    *meeting
}

func (s metStore) Finish(ctx context.Context, id string) (Snapshot, bool, error) {
	snap, ok, err := s.Store.Finish(ctx, id)
	if err == nil && ok && !snap.Closed {
		s.m.arrive(id, s.name)
	}
	return snap, ok, err
}

func (s metStore) Close(ctx context.Context, id string) (bool, error) {
	if err := s.m.wait(ctx, id); err != nil {
		return false, err
	}
	return s.Store.Close(ctx, id)
}

// origins are two origins' lot and order stores on one backing.
type origins struct {
	lots   [2]Store
	orders [2]checkout.Store
}

func closerBackings(t *testing.T) map[string]func(t *testing.T) origins {
	log := slog.New(slog.DiscardHandler)
	return map[string]func(t *testing.T) origins{
		"mem": func(t *testing.T) origins {
			lots := NewMemStore(nil)
			orders, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { orders.Close() })
			return origins{lots: [2]Store{lots, lots}, orders: [2]checkout.Store{orders, orders}}
		},
		"redis": func(t *testing.T) origins {
			srv := redistest.Start(t, redistest.Options{})
			var o origins
			for i := range 2 { // each origin its own client
				rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
				t.Cleanup(func() { rdb.Close() })
				o.lots[i], o.orders[i] = NewRedisStore(rdb), checkout.NewRedisStore(rdb, log)
			}
			return o
		},
	}
}

// counted sums a counter over registries.
func counted(t *testing.T, name string, regs ...*prometheus.Registry) float64 {
	t.Helper()
	var sum float64
	for _, reg := range regs {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestTwoClosersCountEachLotOnce: an origin and its standby run closers on
// one store and settle the same lots at the same moment (both read each
// lot ended and open before either closes it). Each lot is one order at
// most, closed, and counted once across both origins' registries: won,
// unsold, and the uplift of the won ones. Both stores.
func TestTwoClosersCountEachLotOnce(t *testing.T) {
	for name, open := range closerBackings(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			o := open(t)
			m := &meeting{seen: map[string]map[string]bool{}, met: map[string]chan struct{}{}}
			pay := checkout.NewTestProvider(checkout.PaymentConfig{})
			var closers [2]*Closer
			var regs [2]*prometheus.Registry
			for i := range 2 {
				regs[i] = prometheus.NewRegistry()
				metrics, err := NewCloserMetrics(regs[i])
				if err != nil {
					t.Fatal(err)
				}
				closers[i], err = NewCloser(CloserParams{Store: metStore{Store: o.lots[i], name: fmt.Sprint("origin", i), m: m},
					Orders: o.orders[i], Payments: pay, HoldOn: HoldOnWin, Metrics: metrics})
				if err != nil {
					t.Fatal(err)
				}
			}
			// Two lots won (at 700 and 900 over a start of 500), one without
			// a bid, one under its reserve.
			bids := map[string]int64{"w1": 700, "w2": 900, "u1": 0, "u2": 700}
			for id, amount := range bids {
				l := testLot()
				l.ID = id
				if id == "u2" {
					l.ReserveCents = 2000
				}
				createLive(t, o.lots[0], l)
				if amount > 0 {
					a, err := o.lots[0].Bid(ctx, BidRequest{Lot: id, Key: "k-" + id, Bid: Bid{Buyer: "buyer-" + id, AmountCents: amount}})
					if err != nil || a.Result != Accepted {
						t.Fatalf("bid on %s: %+v %v", id, a, err)
					}
				}
				if _, err := o.lots[0].End(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2*len(bids))
			for id := range bids {
				for _, c := range closers {
					wg.Go(func() {
						// As Run does: a Settle that failed is tried again.
						var err error
						for range 50 {
							if err = c.Settle(ctx, id); err == nil {
								return
							}
						}
						errs <- fmt.Errorf("lot %s: %w", id, err)
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for id, amount := range bids {
				snap, err := o.lots[0].Lot(ctx, id)
				if err != nil || !snap.Closed || (snap.OrderID != "") != (id[0] == 'w') {
					t.Fatalf("lot %s after settling: %+v %v", id, snap, err)
				}
				if snap.OrderID != "" {
					ord, err := o.orders[0].Order(ctx, snap.OrderID)
					if err != nil || ord.Status != checkout.StatusPaid || ord.TotalCents != amount {
						t.Fatalf("order of lot %s: %+v %v", id, ord, err)
					}
				}
			}
			if ids, err := o.lots[1].Open(ctx); err != nil || len(ids) != 0 {
				t.Fatalf("open lots %v %v, want none", ids, err)
			}
			won, unsold := counted(t, "livedrop_auction_lots_won_total", regs[:]...), counted(t, "livedrop_auction_lots_unsold_total", regs[:]...)
			uplift := counted(t, "livedrop_auction_uplift_cents_total", regs[:]...)
			if won != 2 || unsold != 2 || uplift != 200+400 {
				t.Fatalf("counted across both origins: won %v unsold %v uplift %v cents; want 2 2 600", won, unsold, uplift)
			}
			t.Logf("origin0 won %v unsold %v, origin1 won %v unsold %v",
				counted(t, "livedrop_auction_lots_won_total", regs[0]), counted(t, "livedrop_auction_lots_unsold_total", regs[0]),
				counted(t, "livedrop_auction_lots_won_total", regs[1]), counted(t, "livedrop_auction_lots_unsold_total", regs[1]))
		})
	}
}

// tickStore counts the closer's looks at the open lots.
type tickStore struct {
	Store
	opened atomic.Int64
}

func (s *tickStore) Open(ctx context.Context) ([]string, error) {
	s.opened.Add(1)
	return s.Store.Open(ctx)
}

// TestCloserStopsOnCancel: a closer's Run returns when its context ends,
// also while lots are open (the package's leak check fails on a goroutine
// left behind).
func TestCloserStopsOnCancel(t *testing.T) {
	stores(t, func(t *testing.T, s Store) {
		orders, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer orders.Close()
		l := testLot()
		createLive(t, s, l) // open, and running for a minute
		ticks := &tickStore{Store: s}
		c, err := NewCloser(CloserParams{Store: ticks, Orders: orders, Payments: checkout.NewTestProvider(checkout.PaymentConfig{}),
			Interval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		deadline := time.Now().Add(20 * time.Second)
		for ticks.opened.Load() < 3 { // it has looked at the open lot a few times
			if time.Now().After(deadline) {
				t.Fatal("the closer did not look at the lots within 20 s")
			}
			time.Sleep(5 * time.Millisecond) // polling the closer's count
		}
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the closer did not stop on cancel")
		}
	})
}
