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
// with an error, and while failGrant is set no lease is granted. The next
// loseGrants grants and loseReturns returns are made, their answers lost.
type lossyStore struct {
	Store
	loseDirect  atomic.Bool
	failGrant   atomic.Bool
	loseGrants  atomic.Int32
	loseReturns atomic.Int32
}

func (s *lossyStore) Return(ctx context.Context, op LeaseOp) (int, error) {
	n, err := s.Store.Return(ctx, op)
	if err == nil && s.loseReturns.Add(-1) >= 0 {
		return 0, fmt.Errorf("return lease: answer lost: %w", ErrUnavailable)
	}
	return n, err
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
	g, err := s.Store.Grant(ctx, op)
	if err == nil && s.loseGrants.Add(-1) >= 0 {
		return Grant{}, fmt.Errorf("grant lease: answer lost: %w", ErrUnavailable)
	}
	return g, err
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

// A grant and a return the store made but whose answers were lost leave no
// unit behind in a lease: the edge asks again with the same op ids, sells
// from the grant, and when the drop closes every unsold unit is free again
// (the seller's count), well before lease_ttl.
func TestEdgeLostLeaseAnswersStrandNoUnit(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			const stock = 40
			cfg := testConfig()
			cfg.LeaseTTL = 2 * time.Minute
			ls := &lossyStore{Store: s}
			ls.loseGrants.Store(2)
			ls.loseReturns.Store(1)
			h := newHarnessOn(t, cfg, ls)
			h.open(t, testDrop("lostlease", stock, 0))
			e := h.edge(t, "e1", cfg, nil)
			sk := e.dropEntry("lostlease").skuEntry("tee")
			eventually(t, 10*time.Second, "a lease at the edge after two lost grant answers", func() bool {
				sk.mu.Lock()
				defer sk.mu.Unlock()
				return sk.avail > 1
			})
			for i := range 2 {
				if _, err := buyUntilAnswered(e, "lostlease", fmt.Sprintf("b%d", i), 1); err != nil {
					t.Fatalf("buyer b%d: %v", i, err)
				}
			}
			if err := h.ctl.Close(context.Background(), "lostlease"); err != nil {
				t.Fatal(err)
			}
			settled(t, ls, "lostlease", 2)
			// The return is made, its answer lost, and asked again with
			// the same op id: the units come back once.
			eventually(t, 10*time.Second, "every unsold unit free after the close, the return asked again", func() bool {
				sk.mu.Lock()
				pending := sk.returnOp
				sk.mu.Unlock()
				tt := mustTotals(t, ls, "lostlease")
				return ls.loseReturns.Load() < 0 && pending == "" && tt.HeldAtEdges == 0 && tt.Free == stock-2
			})
			if tt := mustTotals(t, ls, "lostlease"); tt.Free != stock-2 || tt.Sold != 2 || ls.loseGrants.Load() >= 0 {
				t.Fatalf("totals %+v; lost grant answers left %d", tt, ls.loseGrants.Load()+1)
			}
		})
	}
}

// A direct sale whose answer was lost is paid when the buyer's retry finds
// it, at the same edge (a retry the client marks as one) or at another
// edge (the store names it a duplicate): the order the buyer now holds a
// 201 for does not sit unpaid until its hold expires.
func TestLookupOfALostDirectSaleIsPaid(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ls := &lossyStore{Store: s}
			ls.failGrant.Store(true) // no lease: every sale is direct
			h := newHarnessOn(t, testConfig(), ls)
			h.open(t, testDrop("lp", 10, 0))
			e1, e2 := h.edge(t, "e1", testConfig(), nil), h.edge(t, "e2", testConfig(), nil)
			for i, retry := range []func(OrderRequest) (Order, error){
				func(r OrderRequest) (Order, error) { r.Retry = true; return e1.PlaceOrder(ctx, r) },
				func(r OrderRequest) (Order, error) { return e2.PlaceOrder(ctx, r) },
			} {
				req := OrderRequest{Drop: "lp", SKU: "tee", Qty: 1, Buyer: fmt.Sprintf("b%d", i), IdempotencyKey: "k"}
				ls.loseDirect.Store(true)
				if _, err := e1.PlaceOrder(ctx, req); ClassOf(err) != ClassUnavailable {
					t.Fatalf("order %d whose answer was lost: %v, want unavailable", i, err)
				}
				ls.loseDirect.Store(false)
				o, err := retry(req)
				if err != nil {
					t.Fatalf("retry %d: %v", i, err)
				}
				eventually(t, 10*time.Second, "the found order paid", func() bool {
					got, err := ls.Order(ctx, o.ID)
					return err == nil && got.Status == StatusPaid
				})
			}
		})
	}
}
