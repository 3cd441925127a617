package checkout

import (
	"sync"
	"sync/atomic"
)

// Stock levels for overlays: what each SKU has left as this edge sees it,
// pushed to subscribers after the syncs that change it.

// StockLevel is the units of a SKU left as this edge sees them.
type StockLevel struct {
	Drop string `json:"drop"`
	SKU  string `json:"sku"`
	Left int    `json:"left"`
}

type stockSub struct{ fn func(StockLevel) }

// stockSubs is the subscriber list: copy-on-write, read without a lock by
// notify; mu serialises the writers.
type stockSubs struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*stockSub]
}

// StockLeft returns the units left per SKU of drop as this edge sees them
// (free in the store at the last sync, plus what edges hold unsold).
func (e *Edge) StockLeft(drop string) map[string]int {
	e.dropsMu.Lock()
	ed, ok := e.drops[drop]
	e.dropsMu.Unlock()
	out := map[string]int{}
	if !ok {
		return out
	}
	ed.mu.Lock()
	defer ed.mu.Unlock()
	for n, sk := range ed.skus {
		sk.mu.Lock()
		out[n] = sk.left
		sk.mu.Unlock()
	}
	return out
}

// OnStock calls fn whenever a SKU's units left change (at most once per sync
// interval per SKU). fn must not block. The returned func unsubscribes.
func (e *Edge) OnStock(fn func(StockLevel)) (unsubscribe func()) {
	s := &stockSub{fn: fn}
	e.subs.mu.Lock()
	defer e.subs.mu.Unlock()
	var cur []*stockSub
	if p := e.subs.list.Load(); p != nil {
		cur = *p
	}
	next := append(append([]*stockSub(nil), cur...), s)
	e.subs.list.Store(&next)
	return func() {
		e.subs.mu.Lock()
		defer e.subs.mu.Unlock()
		cur := *e.subs.list.Load()
		next := make([]*stockSub, 0, len(cur))
		for _, x := range cur {
			if x != s {
				next = append(next, x)
			}
		}
		e.subs.list.Store(&next)
	}
}

func (e *Edge) notify(l StockLevel) {
	p := e.subs.list.Load()
	if p == nil {
		return
	}
	for _, s := range *p {
		s.fn(l)
	}
}
