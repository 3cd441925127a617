package checkout

import (
	"context"
	"fmt"
	"time"
)

// Purchase limits that hold across edges. A limit (max_per_buyer,
// max_per_device, max_per_ip of a SKU) is a resource like stock: an edge
// sells to a subject only while it holds that subject's allowance for the
// SKU, leased from the store atomically (Store.Allow) with the rest of the
// limit. Sales under it need no round trip; the store counts their units
// when they are shipped. One edge holds an allowance at a time: an edge
// that needs one another edge holds marks it wanted, and the holder hands it
// back (Store.Release) at its next sync once every unit it sold under it is
// in the store. The store checks every limit again when it records an order,
// so no limit is ever exceeded in total; docs/architecture.md says what is
// guaranteed when an edge dies holding one.

// allowance is this edge's hold on one subject's limit for one SKU; the
// SKU's mu guards it.
type allowance struct {
	left    int       // units this edge may still sell to the subject
	until   time.Time // sell under it only before this (zero: not held)
	pending int       // units sold under it that the store has not counted yet
	wanted  bool      // another edge asked for it: hand it back once pending is 0
	busy    bool      // an acquisition is in flight
	lastUse time.Time // the last sale under it (zero: none yet, e.g. prepared)
}

// usable: the edge knows how much it may sell under it (left may be 0).
func (a *allowance) usable(now time.Time) bool {
	return !a.busy && !a.wanted && now.Before(a.until)
}

// allowanceEntry returns the SKU's allowance for key, creating it; sk.mu
// must be held.
func (sk *edgeSKU) allowanceEntry(key string) *allowance {
	a, ok := sk.allow[key]
	if !ok {
		a = &allowance{}
		sk.allow[key] = a
	}
	return a
}

// checkAllowances says whether qty units may be sold under lims now: the
// limits this edge must acquire first (need), or the key of one that does
// not leave qty units (over). sk.mu must be held.
func (sk *edgeSKU) checkAllowances(lims []Limit, qty int, now time.Time) (need []Limit, over string) {
	for _, l := range lims {
		a, ok := sk.allow[l.Key]
		switch {
		case !ok || !a.usable(now):
			need = append(need, l)
		case a.left < qty && over == "":
			over = l.Key
		}
	}
	if need != nil {
		return need, ""
	}
	return nil, over
}

// takeAllowances sells qty units under lims (checked by checkAllowances);
// sk.mu must be held.
func (sk *edgeSKU) takeAllowances(keys []string, qty int, now time.Time) {
	for _, k := range keys {
		a := sk.allow[k]
		a.left -= qty
		a.pending += qty
		a.lastUse = now
	}
}

// settleAllowances records that the store has answered for qty units sold
// under keys: counted (the units are in its used count) or not (they go
// back to the allowance); atLimit: the store refused them for a limit, so
// nothing is left. It takes sk.mu, and says whether one of them is wanted
// by another edge and may now be handed back (the caller kicks the sync).
func (sk *edgeSKU) settleAllowances(keys []string, qty int, counted, atLimit bool) (handBack bool) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	for _, k := range keys {
		a, ok := sk.allow[k]
		if !ok {
			continue
		}
		a.pending -= qty
		switch {
		case atLimit:
			a.left = 0
		case !counted:
			a.left += qty
		}
		handBack = handBack || (a.wanted && a.pending == 0)
	}
	return handBack
}

// replayedAllowances counts units a replayed, unshipped order sold under
// keys: the edge acquires those allowances again only once they shipped.
func (sk *edgeSKU) replayedAllowances(keys []string, qty int) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	for _, k := range keys {
		sk.allowanceEntry(k).pending += qty
	}
}

// limitKeys lists the keys of lims (nil when there are none).
func limitKeys(lims []Limit) []string {
	if len(lims) == 0 {
		return nil
	}
	keys := make([]string, len(lims))
	for i, l := range lims {
		keys[i] = l.Key
	}
	return keys
}

// errLimit is the refusal of an order over the limit named by key.
func (e *Edge) errLimit(def SKU, key string) error {
	kind := kindOfKey(key)
	e.m.limitRefusals.WithLabelValues(kind).Inc()
	m := limitsOfKeys(def, []string{key})[0].Max
	return fmt.Errorf("this %s may buy at most %d of %s: %w", kind, m, def.SKU, ErrLimit)
}

// acquire gets the allowances of need for this edge, asking the store in
// one call for all that nobody here is acquiring. An allowance another edge
// holds is marked wanted from it, and asked for again every poll until
// giveUp; then it answers ErrLimitHeld (class held: try again shortly),
// never a refusal.
func (e *Edge) acquire(ctx context.Context, drop, sku string, sk *edgeSKU, need []Limit, giveUp time.Time) error {
	poll := max(e.cfg.SyncInterval/5, 5*time.Millisecond)
	for {
		now := time.Now()
		var mine []Limit
		waiting := false
		sk.mu.Lock()
		for _, l := range need {
			a := sk.allowanceEntry(l.Key)
			switch {
			case a.usable(now):
			case a.busy || a.pending > 0:
				// Another order is acquiring it, or units sold under the
				// old one are not counted by the store yet.
				waiting = true
			default:
				a.busy = true
				mine = append(mine, l)
			}
		}
		sk.mu.Unlock()
		if len(mine) > 0 {
			held, err := e.allowNow(ctx, drop, sku, sk, mine, true)
			if err != nil {
				return err
			}
			waiting = waiting || held
		}
		if !waiting {
			return nil
		}
		e.kickShip()
		if !time.Now().Add(poll).Before(giveUp) {
			return ErrLimitHeld
		}
		t := time.NewTimer(poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ErrLimitHeld
		}
	}
}

// allowNow asks the store for the allowances of lims, which the caller has
// marked busy, and records the answers; held says another edge holds one.
func (e *Edge) allowNow(ctx context.Context, drop, sku string, sk *edgeSKU, lims []Limit, want bool) (held bool, err error) {
	items := make([]AllowItem, len(lims))
	for i, l := range lims {
		items[i] = AllowItem{SKU: sku, Limit: l}
	}
	asked := time.Now()
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	left, err := e.store.Allow(cctx, AllowOp{Drop: drop, Edge: e.id, TTL: e.cfg.LeaseTTL, Want: want, Items: items})
	cancel()
	held = e.granted(sk, lims, left, err, asked)
	if err != nil {
		return false, fmt.Errorf("lease the buyer's limit: %w: %w", ErrUnavailable, err)
	}
	return held, nil
}

// granted records the store's answers to an allowance request for lims
// (marked busy) and clears busy; it reports whether another edge holds one.
func (e *Edge) granted(sk *edgeSKU, lims []Limit, left []int, err error, asked time.Time) (held bool) {
	until := asked.Add(e.leaseLife())
	sk.mu.Lock()
	defer sk.mu.Unlock()
	for i, l := range lims {
		a := sk.allowanceEntry(l.Key)
		a.busy = false
		if err != nil {
			continue
		}
		switch n := left[i]; {
		case n < 0:
			a.until = time.Time{}
			held = true
			e.m.allowance.WithLabelValues("held_elsewhere").Inc()
		default:
			a.left, a.until, a.wanted = n, until, false
			if n == 0 {
				e.m.allowance.WithLabelValues("at_limit").Inc()
			} else {
				e.m.allowance.WithLabelValues("granted").Inc()
			}
		}
	}
	return held
}

func (e *Edge) kickShip() {
	select {
	case e.ship.kick <- struct{}{}:
	default:
	}
}

// handBack releases the allowances other edges asked for once every unit
// sold under them is counted, and, every sweep, the ones idle or expired
// (dropping them from memory: an allowance the edge no longer holds needs
// none). One store call per drop.
func (e *Edge) handBack(ctx context.Context, ed *edgeDrop, wanted []AllowItem, sweep bool) {
	now := time.Now()
	idle := e.allowIdle()
	var (
		rel []AllowItem
		// What is being handed back stays in memory, busy, until the store
		// has it: an order meanwhile waits, so its new allowance is asked
		// for after the release, never overtaken by it.
		going []*allowance
		from  []*edgeSKU
	)
	names, skus := ed.skuList()
	byName := make(map[string]*edgeSKU, len(names))
	for i, n := range names {
		byName[n] = skus[i]
	}
	for _, w := range wanted {
		sk, ok := byName[w.SKU]
		if !ok {
			rel, going, from = append(rel, w), append(going, nil), append(from, nil)
			continue
		}
		sk.mu.Lock()
		a, ok := sk.allow[w.Limit.Key]
		switch {
		case !ok:
			// Held in the store only (a restart): nothing sold under it.
			a = sk.allowanceEntry(w.Limit.Key)
			fallthrough
		case a.pending == 0 && !a.busy:
			a.busy = true
			rel, going, from = append(rel, w), append(going, a), append(from, sk)
		default:
			if !a.wanted {
				e.m.allowance.WithLabelValues("wanted").Inc()
			}
			a.wanted = true
		}
		sk.mu.Unlock()
	}
	if sweep {
		for i, sk := range skus {
			sk.mu.Lock()
			visited := 0
			for k, a := range sk.allow {
				// A bounded stretch per sweep (map order is random, so the
				// sweeps cover them all), keeping orders' waits for the lock short.
				if visited++; visited > maxSweptPerSKU {
					break
				}
				if a.busy || a.pending > 0 {
					continue
				}
				if !now.Before(a.until) {
					delete(sk.allow, k) // expired: the store no longer counts it as ours
				} else if !a.lastUse.IsZero() && now.Sub(a.lastUse) >= idle {
					a.busy = true
					rel = append(rel, AllowItem{SKU: names[i], Limit: Limit{Key: k}})
					going, from = append(going, a), append(from, sk)
				}
			}
			sk.mu.Unlock()
		}
	}
	if len(rel) == 0 {
		return
	}
	var err error
	released := 0
	for released < len(rel) && err == nil {
		n := min(len(rel)-released, maxAllowPerCall)
		if err = e.store.Release(ctx, ed.id, e.id, rel[released:released+n]); err == nil {
			released += n
		}
	}
	for i, a := range going {
		if a == nil {
			continue
		}
		sk := from[i]
		sk.mu.Lock()
		if sk.allow[rel[i].Limit.Key] == a {
			delete(sk.allow, rel[i].Limit.Key)
		}
		sk.mu.Unlock()
	}
	// On an error the store still names this edge for the rest: a wanted
	// one is asked for again next sync, an idle one expires.
	e.m.allowance.WithLabelValues("returned").Add(float64(released))
}

// releaseAll hands back, at shutdown, every allowance whose units the store
// has counted, so buyers need not wait for them to expire elsewhere.
func (e *Edge) releaseAll(ctx context.Context) {
	for _, ed := range e.dropList() {
		var rel []AllowItem
		names, skus := ed.skuList()
		for i, sk := range skus {
			sk.mu.Lock()
			for k, a := range sk.allow {
				if a.pending == 0 && !a.busy && time.Now().Before(a.until) {
					rel = append(rel, AllowItem{SKU: names[i], Limit: Limit{Key: k}})
				}
			}
			sk.mu.Unlock()
		}
		for len(rel) > 0 {
			n := min(len(rel), maxAllowPerCall)
			if err := e.store.Release(ctx, ed.id, e.id, rel[:n]); err != nil {
				break
			}
			e.m.allowance.WithLabelValues("returned").Add(float64(n))
			rel = rel[n:]
		}
	}
}

// allowIdle is how long after its last sale an allowance may go unused
// before this edge hands it back, so a buyer who moves to another edge
// rarely waits for it. One never used (prepared) is kept until it expires.
func (e *Edge) allowIdle() time.Duration { return max(20*e.cfg.SyncInterval, 2*time.Second) }

// allowSweepEvery is how often the sync loop looks for idle allowances.
func (e *Edge) allowSweepEvery() time.Duration {
	return max(5*e.cfg.SyncInterval, 500*time.Millisecond)
}

// allowEntries counts the allowances this edge keeps in memory.
func (e *Edge) allowEntries() int {
	n := 0
	for _, ed := range e.dropList() {
		_, skus := ed.skuList()
		for _, sk := range skus {
			sk.mu.Lock()
			n += len(sk.allow)
			sk.mu.Unlock()
		}
	}
	return n
}
