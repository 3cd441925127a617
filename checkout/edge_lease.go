package checkout

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/google/uuid"
)

// Lease keeping: the sync loop reads each drop's view from the store, sizes
// and refills this edge's leases ahead of its selling rate, renews them,
// recovers them after a restart and gives unsold units back when the drop
// ends or nears its last units.

func (e *Edge) lowWater(sk *edgeSKU) int { return (e.want(sk) + 1) / 2 }

func (e *Edge) want(sk *edgeSKU) int {
	w := int(math.Ceil(sk.rate * e.cfg.LeaseWindow.Seconds()))
	return min(max(w, e.cfg.LeaseMin), e.cfg.LeaseMax)
}

// listEvery is how often the sync loop looks for new drops.
func (e *Edge) listEvery() time.Duration { return max(5*e.cfg.SyncInterval, 250*time.Millisecond) }

func (e *Edge) syncLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.SyncInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.syncKick:
		}
		now := time.Now()
		e.syncOnce(ctx, now.Sub(last))
		last = now
	}
}

func (e *Edge) syncOnce(ctx context.Context, elapsed time.Duration) {
	if time.Since(e.listedAt) >= e.listEvery() {
		// Learn new drops so leases are in place before the first buyer.
		cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
		ids, err := e.store.ListDrops(cctx)
		cancel()
		if err == nil {
			e.listedAt = time.Now()
			for _, id := range ids {
				if ValidID(id) {
					e.dropEntry(id)
				}
			}
		}
	}
	e.prepareAllowances(ctx)
	sweep := time.Since(e.sweptAt) >= e.allowSweepEvery()
	drops := e.dropList()
	for _, ed := range drops {
		e.syncDrop(ctx, ed, elapsed, sweep)
	}
	if sweep {
		e.sweptAt = time.Now()
		e.m.limitEntries.WithLabelValues("allowance").Set(float64(e.allowEntries()))
	}
	e.rate.sweep()
	for i, n := range e.rate.entries() {
		e.m.limitEntries.WithLabelValues("rate_" + limitKinds[i]).Set(float64(n))
	}
}

func (e *Edge) syncDrop(ctx context.Context, ed *edgeDrop, elapsed time.Duration, sweep bool) {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	ed.mu.Lock()
	fetched := ed.fetched
	ed.mu.Unlock()
	if !fetched {
		d, err := e.store.Drop(cctx, ed.id)
		if err != nil {
			return
		}
		ed.load(d)
	}
	names, skus := ed.skuList()
	viewAt := time.Now()
	v, err := e.store.View(cctx, ed.id, e.id, names)
	if err != nil {
		return
	}
	ed.mu.Lock()
	was := ed.state
	ed.mu.Unlock()
	if was == StateCreated && e.reloadDefinition(cctx, ed) { // edge_reload.go: edited before it opened
		names, skus = ed.skuList()
		if v, err = e.store.View(cctx, ed.id, e.id, names); err != nil {
			return
		}
	}
	ed.setState(v.State)
	if was != StateOpen && v.State == StateOpen {
		e.reprepare[ed.id] = 0 // buyers who showed up before it opened
	}
	e.handBack(cctx, ed, v.Wanted, sweep)
	// Read after the view, the index holds every order that existed when
	// the view was taken.
	if e.indexOrders(cctx, ed) {
		ed.mu.Lock()
		ed.knownFor = viewAt
		ed.mu.Unlock()
	}
	held := 0
	for i, sk := range skus {
		e.syncSKU(cctx, ed.id, names[i], sk, v.State, v.SKUs[names[i]], viewAt, elapsed)
		sk.mu.Lock()
		held += sk.avail
		sk.mu.Unlock()
	}
	e.m.leaseUnits.WithLabelValues(ed.id).Set(float64(held))
}

// indexBatch is how many order ids one index read asks for.
const indexBatch = 4096

// indexOrders brings the drop's order index up to date; false if the store
// could not say (the index then covers an older view, or none).
func (e *Edge) indexOrders(ctx context.Context, ed *edgeDrop) bool {
	ed.mu.Lock()
	cur := ed.knownCur
	ed.mu.Unlock()
	for {
		ids, next, err := e.store.OrdersSince(ctx, ed.id, cur, indexBatch)
		if err != nil {
			return false
		}
		ed.mu.Lock()
		if ed.known == nil {
			ed.known = make(map[string]struct{}, len(ids))
		}
		for _, id := range ids {
			ed.known[id] = struct{}{}
		}
		ed.knownCur = next
		ed.mu.Unlock()
		if next == cur {
			return true // nothing after cur: up to date
		}
		cur = next
	}
}

func (e *Edge) syncSKU(ctx context.Context, drop, name string, sk *edgeSKU, state string, v SKUView, viewAt time.Time, elapsed time.Duration) {
	now := time.Now()
	sk.mu.Lock()
	if elapsed > 0 {
		inst := float64(sk.soldTick) / elapsed.Seconds()
		sk.rate = 0.7*sk.rate + 0.3*inst
		sk.soldTick = 0
	}
	sk.direct = v.Free <= e.cfg.DirectThreshold
	sk.view, sk.viewAt = v, viewAt
	if sk.synced != nil {
		close(sk.synced) // wake the orders waiting for held units
		sk.synced = nil
	}
	left := v.Free + max(0, v.Leased-v.MyLease) + sk.avail
	changed := left != sk.notified
	sk.left, sk.notified = left, left
	recovered, unshipped, avail := sk.recovered, sk.unshipped, sk.avail
	want := e.want(sk)
	renew := (avail > 0 || unshipped > 0) && now.After(sk.renewAt)
	sk.mu.Unlock()
	if changed {
		e.notify(StockLevel{Drop: drop, SKU: name, Left: left})
	}

	if !recovered {
		// After a start the store's lease is the truth, once every order
		// this edge sold from it is shipped.
		if unshipped > 0 {
			return
		}
		n, err := e.store.Renew(ctx, drop, name, e.id, e.cfg.LeaseTTL)
		if err != nil && !errors.Is(err, ErrLeaseGone) {
			return
		}
		sk.mu.Lock()
		sk.avail, sk.recovered = n, true
		sk.deadline = now.Add(e.leaseLife())
		sk.renewAt = now.Add(e.cfg.LeaseTTL / 3)
		sk.mu.Unlock()
		if n > 0 {
			e.logger.Info("lease recovered", "drop", drop, "sku", name, "units", n)
		}
		return
	}

	if state != StateOpen || sk.isDirect() {
		// A grant whose answer was lost (a failover, a WAIT that timed out)
		// holds units in the store: learn them first, or they stay
		// stranded in the lease until lease_ttl.
		e.settleGrant(ctx, drop, name, sk, now)
		e.returnLease(ctx, drop, name, sk)
		return
	}
	if renew {
		n, err := e.store.Renew(ctx, drop, name, e.id, e.cfg.LeaseTTL)
		sk.mu.Lock()
		switch {
		case errors.Is(err, ErrLeaseGone):
			e.logger.Warn("lease reclaimed by the store", "drop", drop, "sku", name, "lost_units", sk.avail)
			sk.avail = 0
		case err == nil:
			sk.deadline = now.Add(e.leaseLife())
			sk.renewAt = now.Add(e.cfg.LeaseTTL / 3)
			_ = n
		}
		sk.mu.Unlock()
	}
	sk.mu.Lock()
	need := sk.grantOp != "" || sk.avail < (want+1)/2
	if need && sk.grantOp == "" {
		sk.grantOp = uuid.NewString()
		sk.grantUnits = want - sk.avail
	}
	op := LeaseOp{Drop: drop, SKU: name, Edge: e.id, OpID: sk.grantOp, Units: sk.grantUnits, Threshold: e.cfg.DirectThreshold, TTL: e.cfg.LeaseTTL}
	sk.mu.Unlock()
	if !need {
		return
	}
	g, err := e.store.Grant(ctx, op)
	if err != nil {
		return // retried next sync with the same op id
	}
	sk.mu.Lock()
	sk.grantOp = ""
	if g.Units > 0 {
		sk.avail += g.Units
		sk.deadline = now.Add(e.leaseLife())
		sk.renewAt = now.Add(e.cfg.LeaseTTL / 3)
		e.m.leaseRefills.Inc()
		e.m.leaseGrant.Observe(float64(g.Units))
	}
	sk.direct = g.Direct
	sk.mu.Unlock()
}

// settleGrant asks again for a grant still waiting for its answer (the
// store answers a known op id with its first answer, whatever the drop's
// state now) and adds its units to the lease.
func (e *Edge) settleGrant(ctx context.Context, drop, name string, sk *edgeSKU, now time.Time) {
	sk.mu.Lock()
	op := LeaseOp{Drop: drop, SKU: name, Edge: e.id, OpID: sk.grantOp, Units: sk.grantUnits, Threshold: e.cfg.DirectThreshold, TTL: e.cfg.LeaseTTL}
	sk.mu.Unlock()
	if op.OpID == "" {
		return
	}
	g, err := e.store.Grant(ctx, op)
	if err != nil {
		return
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	sk.grantOp = ""
	if g.Units > 0 {
		sk.avail += g.Units
		sk.deadline = now.Add(e.leaseLife())
		sk.renewAt = now.Add(e.cfg.LeaseTTL / 3)
	}
}

// leaseLife is how long after asking the edge may sell from a lease: less
// than its TTL in the store, so the store never reclaims units the edge may
// still sell.
func (e *Edge) leaseLife() time.Duration { return e.cfg.LeaseTTL * 8 / 10 }

func (sk *edgeSKU) isDirect() bool {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return sk.direct
}

// returnLease gives the unsold units of a lease back to the drop.
func (e *Edge) returnLease(ctx context.Context, drop, name string, sk *edgeSKU) {
	sk.mu.Lock()
	if sk.returnOp == "" {
		if sk.avail == 0 {
			sk.mu.Unlock()
			return
		}
		sk.returnOp, sk.returnUnits = uuid.NewString(), sk.avail
		sk.avail = 0
	}
	op := LeaseOp{Drop: drop, SKU: name, Edge: e.id, OpID: sk.returnOp, Units: sk.returnUnits}
	sk.mu.Unlock()
	n, err := e.store.Return(ctx, op)
	if err != nil {
		return // retried with the same op id
	}
	sk.mu.Lock()
	sk.returnOp = ""
	sk.mu.Unlock()
	e.logger.Debug("lease returned", "drop", drop, "sku", name, "units", n)
}

func (e *Edge) returnAll(ctx context.Context) {
	drops := e.dropList()
	for _, ed := range drops {
		names, skus := ed.skuList()
		for i, sk := range skus {
			n := names[i]
			sk.mu.Lock()
			ok := sk.recovered && sk.unshipped == 0
			sk.mu.Unlock()
			if ok {
				e.returnLease(ctx, ed.id, n, sk)
			}
		}
	}
}
