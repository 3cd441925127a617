package checkout

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// lossyStore is a Store whose answers get lost as they do around a Redis
// failover (the write applied, then WAIT timed out or the connection
// dropped): while loseDirect is set a direct sale is made but answered
// with an error, and while failGrant is set no lease is granted.
type lossyStore struct {
	Store
	loseDirect atomic.Bool
	failGrant  atomic.Bool
}

func (s *lossyStore) SellDirect(ctx context.Context, it ShipItem) (ShipResult, error) {
	res, err := s.Store.SellDirect(ctx, it)
	if err == nil && s.loseDirect.Load() {
		return ShipResult{}, fmt.Errorf("direct sale: answer lost: %w", ErrUnavailable)
	}
	return res, err
}

func (s *lossyStore) Grant(ctx context.Context, op LeaseOp) (Grant, error) {
	if s.failGrant.Load() {
		return Grant{}, fmt.Errorf("grant lease: %w", ErrUnavailable)
	}
	return s.Store.Grant(ctx, op)
}

// A buyer whose order an edge sold from free stock without getting the
// store's answer asks again at the same edge, which now sells it from its
// lease; the store already has the order, so that lease unit was never
// spent. The edge must still count it, or it stays in the lease unsold
// until lease_ttl while buyers hear "try again": every unit sells, and no
// buyer waits for a unit nobody will sell.
func TestEdgeRetryAfterALostDirectAnswerSellsEveryUnit(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			const stock = 30
			cfg := testConfig()
			cfg.LeaseTTL = 2 * time.Minute // far past the test: the reaper must not be what frees the unit
			ls := &lossyStore{Store: s}
			ls.failGrant.Store(true)
			h := newHarnessOn(t, cfg, ls)
			h.open(t, testDrop("lost", stock, 0))
			e := h.edge(t, "e1", cfg, nil)

			ls.loseDirect.Store(true)
			if _, err := buy(e, "lost", "b0", 1); ClassOf(err) != ClassUnavailable {
				t.Fatalf("order whose direct answer was lost: %v; want unavailable", err)
			}
			ls.loseDirect.Store(false)
			ls.failGrant.Store(false)
			sk := e.dropEntry("lost").skuEntry("tee")
			eventually(t, 10*time.Second, "a lease at the edge", func() bool {
				sk.mu.Lock()
				defer sk.mu.Unlock()
				return sk.avail > 0
			})
			// Asked again, it is sold from the lease: the same order.
			first, err := buy(e, "lost", "b0", 1)
			if err != nil {
				t.Fatalf("retry of b0: %v", err)
			}

			accepted := map[string]bool{first.ID: true}
			for i := 1; ; i++ {
				o, err := buyUntilAnswered(e, "lost", fmt.Sprintf("b%d", i), 1)
				if errors.Is(err, ErrSoldOut) {
					break
				}
				if err != nil {
					t.Fatalf("buyer b%d (%d sold so far): %v; store %+v\n%s", i, len(accepted), err,
						mustTotals(t, ls, "lost"), leaseReport(ls, []*Edge{e}, "lost", "tee"))
				}
				accepted[o.ID] = true
			}
			if len(accepted) != stock {
				t.Fatalf("%d orders accepted for %d units", len(accepted), stock)
			}
			tt := settled(t, ls, "lost", stock)
			if tt.Free != 0 || tt.HeldAtEdges != 0 || tt.Orders != stock {
				t.Fatalf("totals after the sell-out %+v; want every unit sold once", tt)
			}
		})
	}
}
