package checkout

import (
	"fmt"
	"sort"
	"strings"
)

// Purchase limits in the embedded store, with the rules of the Redis
// scripts (scriptAllow, scriptRelease and the limit checks of the sales):
// per limit field (sku|limit key) the units used, and which edge holds the
// allowance until when.

// memHold is who holds one allowance, and until when (ms).
type memHold struct {
	Edge string
	Exp  int64
}

// overLimit names the first limit qty more units would break ("" if none).
func (md *memDrop) overLimit(sku string, lims []Limit, qty int) string {
	for _, l := range lims {
		if l.Max > 0 && md.used[limitField(sku, l.Key)]+qty > l.Max {
			return l.Key
		}
	}
	return ""
}

// heldElsewhere marks as wanted every allowance of lims that an edge other
// than edge holds, and names the first ("" if none).
func (md *memDrop) heldElsewhere(sku string, lims []Limit, edge string, now int64) string {
	held := ""
	for _, l := range lims {
		f := limitField(sku, l.Key)
		if h, ok := md.allow[f]; ok && h.Edge != edge && h.Exp > now {
			md.wanted[h.Edge+"|"+f] = true
			if held == "" {
				held = l.Key
			}
		}
	}
	return held
}

// wantedFrom lists the allowances edge holds that others asked for.
func (md *memDrop) wantedFrom(edge string) []AllowItem {
	var out []AllowItem
	prefix := edge + "|"
	for m := range md.wanted {
		if f, ok := strings.CutPrefix(m, prefix); ok {
			if it, ok := wantedItem(f); ok {
				out = append(out, it)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].SKU+out[i].Limit.Key < out[j].SKU+out[j].Limit.Key
	})
	return out[:min(len(out), maxWantedPerView)]
}

func (s *MemStore) applyAllow(op memOp) memResult {
	a := op.Allow
	md, ok := s.drops[a.Drop]
	if !ok {
		return memResult{err: fmt.Errorf("drop %s: %w", a.Drop, ErrNotFound)}
	}
	out := make([]int, len(a.Items))
	changed := false
	for i, it := range a.Items {
		f := limitField(it.SKU, it.Limit.Key)
		h, held := md.allow[f]
		left := it.Limit.Max - md.used[f]
		if left <= 0 {
			// At the limit whoever holds it: nothing to hold.
			if held && (h.Edge == a.Edge || h.Exp <= op.NowMs) {
				delete(md.allow, f)
				changed = true
			}
			continue
		}
		if held && h.Edge != a.Edge && h.Exp > op.NowMs {
			if a.Want {
				md.wanted[h.Edge+"|"+f] = true
				changed = true
			}
			out[i] = -1
			continue
		}
		changed = true
		if held && h.Edge != a.Edge {
			delete(md.wanted, h.Edge+"|"+f)
		}
		md.allow[f] = memHold{Edge: a.Edge, Exp: op.NowMs + a.TTL.Milliseconds()}
		out[i] = left
	}
	return memResult{changed: changed, left: out}
}

func (s *MemStore) applyRelease(op memOp) memResult {
	a := op.Allow
	md, ok := s.drops[a.Drop]
	if !ok {
		return memResult{err: fmt.Errorf("drop %s: %w", a.Drop, ErrNotFound)}
	}
	for _, it := range a.Items {
		f := limitField(it.SKU, it.Limit.Key)
		if h, ok := md.allow[f]; ok && h.Edge == a.Edge {
			delete(md.allow, f)
		}
		delete(md.wanted, a.Edge+"|"+f)
	}
	return memResult{changed: true}
}
