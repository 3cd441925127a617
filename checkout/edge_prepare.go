package checkout

import (
	"context"
	"time"
)

// Preparing allowances ahead of a buyer's first order (edge_allow.go holds
// the allowances themselves).

// Prepare is a hint that a buyer session has shown up at this edge (sign-in,
// card load): the sync loop leases the buyer's, device's and address's
// allowances for the drops open at this edge in bulk (one store call per
// drop and up to maxAllowPerCall subjects), so their first order needs no
// round trip. The edge remembers the last 131,072 hints for 30 minutes and
// prepares them again when a drop opens, so buyers who signed in before it
// opened are ready too. A prepared allowance lasts 0.8 lease_ttl: for a
// buyer who waits longer with the card open, call Prepare again (on card
// load). It never blocks (a full queue drops the hint, counted); an empty
// subject is skipped; allowances another edge holds are left with it.
func (e *Edge) Prepare(buyer, device, ip string) {
	if !ValidBuyer(buyer) || (device != "" && !validSubject(device)) || (ip != "" && !validSubject(ip)) {
		return
	}
	select {
	case e.prepq <- prepared{buyer, device, ip}:
	default:
		e.m.allowance.WithLabelValues("prepare_dropped").Inc()
	}
}

// prepareQueued is Prepare that says whether the hint was queued (benchmarks
// fill the queue without dropping).
func (e *Edge) prepareQueued(buyer, device, ip string) bool {
	select {
	case e.prepq <- prepared{buyer, device, ip}:
		return true
	default:
		return false
	}
}

type prepared struct{ buyer, device, ip string }

// maxPreparedPerSync bounds the hints one sync turns into allowances.
const maxPreparedPerSync = 4096

// prepareAllowances takes the queued hints and acquires their allowances in
// every open drop the edge knows, one store call per drop; it remembers the
// hints, and for a drop that has just opened prepares the remembered ones
// again, a stretch per sync (buyers sign in before a drop opens).
func (e *Edge) prepareAllowances(ctx context.Context) {
	var subs []prepared
	for len(subs) < maxPreparedPerSync {
		select {
		case p := <-e.prepq:
			subs = append(subs, p)
			continue
		default:
		}
		break
	}
	now := time.Now()
	for _, p := range subs {
		e.recent.add(p, now)
	}
	for _, ed := range e.dropList() {
		ed.mu.Lock()
		open := ed.fetched && ed.state == StateOpen
		ed.mu.Unlock()
		if !open {
			continue
		}
		if len(subs) > 0 {
			e.prepareIn(ctx, ed, subs)
		}
		if cur, ok := e.reprepare[ed.id]; ok {
			again, next := e.recent.since(cur, now.Add(-maxPreparedAge), maxPreparedPerSync)
			if len(again) > 0 {
				e.prepareIn(ctx, ed, again)
			}
			if len(again) < maxPreparedPerSync {
				delete(e.reprepare, ed.id)
			} else {
				e.reprepare[ed.id] = next
			}
		}
	}
}

// prepareIn acquires, for the subjects of subs, the allowances of one open
// drop that this edge does not hold yet (soft: those other edges hold stay).
func (e *Edge) prepareIn(ctx context.Context, ed *edgeDrop, subs []prepared) {
	now := time.Now()
	names, skus := ed.skuList()
	var items []AllowItem
	var owners []*edgeSKU
	for i, sk := range skus {
		def := sk.definition()
		// The keys are hashed outside the lock; orders only wait for the
		// marking.
		var lims []Limit
		for _, p := range subs {
			lims = append(lims, limitsOf(def, p.buyer, p.device, p.ip)...)
		}
		if len(lims) == 0 {
			continue
		}
		sk.mu.Lock()
		for _, l := range lims {
			a := sk.allowanceEntry(l.Key)
			if a.usable(now) || a.busy || a.pending > 0 {
				continue
			}
			a.busy = true
			items = append(items, AllowItem{SKU: names[i], Limit: l})
			owners = append(owners, sk)
		}
		sk.mu.Unlock()
	}
	for len(items) > 0 {
		n := min(len(items), maxAllowPerCall)
		cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
		left, err := e.store.Allow(cctx, AllowOp{Drop: ed.id, Edge: e.id, TTL: e.cfg.LeaseTTL, Items: items[:n]})
		cancel()
		for i, it := range items[:n] {
			var one []int
			if err == nil {
				one = left[i : i+1]
			}
			e.granted(owners[i], []Limit{it.Limit}, one, err, now)
		}
		items, owners = items[n:], owners[n:]
	}
}

// maxAllowPerCall bounds the allowances one store call leases, so one
// script never holds Redis for long.
const maxAllowPerCall = 1000

// Prepared hints are remembered (the last maxRecentPrepared, for
// maxPreparedAge) to prepare them again when a drop opens.
const (
	maxRecentPrepared = 1 << 17
	maxPreparedAge    = 30 * time.Minute
)

// recentPrepared is a ring of the last hints, owned by the sync loop. seq
// counts every hint ever added; a cursor is such a count.
type recentPrepared struct {
	ring []preparedAt
	seq  int
}

type preparedAt struct {
	p  prepared
	at time.Time
}

func (r *recentPrepared) add(p prepared, now time.Time) {
	if len(r.ring) < maxRecentPrepared {
		r.ring = append(r.ring, preparedAt{p, now})
	} else {
		r.ring[r.seq%maxRecentPrepared] = preparedAt{p, now}
	}
	r.seq++
}

// since returns up to n hints added at or after cursor (or the oldest still
// kept), newer than notBefore, and the cursor after them.
func (r *recentPrepared) since(cursor int, notBefore time.Time, n int) ([]prepared, int) {
	cursor = max(cursor, r.seq-len(r.ring))
	var out []prepared
	for ; cursor < r.seq && len(out) < n; cursor++ {
		if pa := r.ring[cursor%maxRecentPrepared]; pa.at.After(notBefore) {
			out = append(out, pa.p)
		}
	}
	return out, cursor
}

// maxSweptPerSKU bounds the allowances one sweep looks at per SKU (tens of
// microseconds under the SKU's lock); at two sweeps a second that is a few
// thousand a second, well above the rate buyers arrive at one edge.
const maxSweptPerSKU = 1024
