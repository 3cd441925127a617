package checkout

import (
	"context"
	"sync"
	"time"
)

// shipQueue holds the journaled orders not yet in the store, oldest first.
type shipQueue struct {
	mu   sync.Mutex
	q    []*edgeOrder
	kick chan struct{}
}

// push queues eo and wakes the ship loop.
func (s *shipQueue) push(eo *edgeOrder) {
	s.mu.Lock()
	s.q = append(s.q, eo)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// peek copies up to n orders from the head.
func (s *shipQueue) peek(n int) []*edgeOrder {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*edgeOrder(nil), s.q[:min(len(s.q), n)]...)
}

// pop drops n orders from the head (the ones peek returned and the store took).
func (s *shipQueue) pop(n int) {
	s.mu.Lock()
	s.q = s.q[n:]
	s.mu.Unlock()
}

// len is the queue length.
func (s *shipQueue) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q)
}

// lag is the queue length and the age of its oldest order.
func (s *shipQueue) lag() (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.q) == 0 {
		return 0, 0
	}
	return len(s.q), time.Since(s.q[0].at)
}

// shipLoop ships whenever an order is journaled, and every 50 ms anyway, so
// an accepted order's key reaches the store within one store round trip of
// its fsync while the store is up (livedrop_checkout_sync_lag_seconds).
func (e *Edge) shipLoop(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.ship.kick:
		case <-t.C:
		}
		if backoff > 0 {
			bt := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				bt.Stop()
				return
			case <-bt.C:
			}
		}
		for {
			n := e.shipOnce(ctx)
			if n < 0 {
				backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
				break
			}
			backoff = 0
			if n == 0 {
				break
			}
		}
		n, lag := e.ship.lag()
		e.m.unshipped.Set(float64(n))
		e.m.syncLag.Set(lag.Seconds())
	}
}

const shipBatch = 256

// shipOnce ships up to one batch: it returns how many, or -1 on failure.
func (e *Edge) shipOnce(ctx context.Context) int {
	batch := e.ship.peek(shipBatch)
	n := len(batch)
	if n == 0 {
		return 0
	}
	items := make([]ShipItem, n)
	for i, eo := range batch {
		o := e.book.order(eo)
		sk := e.dropEntry(o.Drop).skuEntry(o.SKU)
		items[i] = ShipItem{Order: o, Limits: limitsOfKeys(sk.definition(), o.Limits), Hold: e.cfg.HoldTime}
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	res, err := e.store.Ship(cctx, items)
	cancel()
	if err != nil {
		e.logger.Debug("ship orders failed", "orders", n, "err", err)
		return -1
	}
	now := time.Now()
	for i, r := range res {
		e.m.shipLatency.Observe(now.Sub(batch[i].at).Seconds())
		e.shipped(batch[i], items[i].Order, r)
	}
	e.ship.pop(n)
	return n
}

func (e *Edge) shipped(eo *edgeOrder, o Order, r ShipResult) {
	e.m.shipped.WithLabelValues(string(r.Outcome)).Inc()
	sk := e.dropEntry(o.Drop).skuEntry(o.SKU)
	sk.mu.Lock()
	sk.unshipped -= o.Qty
	if leaseNotCharged(o, r) {
		sk.avail += o.Qty
	}
	sk.mu.Unlock()
	// Created or recorded before: the store counts the units against the
	// order's limits; a duplicate or a cancelled order it does not.
	counted := r.Outcome == OutcomeCreated || r.Outcome == OutcomeExists
	if sk.settleAllowances(o.Limits, o.Qty, counted, r.Outcome == OutcomeCancelled && r.Order.Reason == "limit") {
		e.kickSync() // another edge waits for this buyer's allowance
	}
	e.book.update(eo, func(eo *edgeOrder) { eo.o, eo.shipped = r.Order, true })
	e.markShipped(o.ID)
	if (r.Outcome == OutcomeCreated || r.Outcome == OutcomeExists) && r.Order.Status == StatusPending {
		e.enqueuePayment(r.Order)
	}
}

// leaseNotCharged reports whether the store recorded shipped order o
// without spending the lease on it: another edge recorded the key first
// (duplicate), or another attempt at this edge did (exists, but not this
// journaled order: a direct sale whose answer was lost, as around a Redis
// failover, then a retry sold from the lease). Each attempt has its own
// CreatedAt; a retried ship of the same journaled order keeps it. Those
// units are still the edge's to sell: left uncounted, they would sit in
// the store's lease unsold, and buyers hear "held", until lease_ttl.
func leaseNotCharged(o Order, r ShipResult) bool {
	switch r.Outcome {
	case OutcomeDuplicate:
		return true
	case OutcomeExists:
		return !r.Order.CreatedAt.Equal(o.CreatedAt)
	}
	return false
}
