package checkout

import (
	"fmt"
	"time"
)

// Applying one journaled change to the embedded store's state: live (under
// MemStore.mu, from do) and on replay, with the same result both times.

func (s *MemStore) apply(op memOp) memResult {
	switch op.Kind {
	case "create":
		d := *op.Drop
		if _, ok := s.drops[d.ID]; ok {
			return memResult{err: fmt.Errorf("drop %s: %w", d.ID, ErrDropExists)}
		}
		d.State, d.OpenedAt = StateCreated, time.Time{}
		md := &memDrop{d: d, skus: map[string]*memSKU{}, leases: map[string]int{}, leaseExp: map[string]int64{},
			orders: map[string]Order{}, pending: map[string]int64{},
			used: map[string]int{}, allow: map[string]memHold{}, wanted: map[string]bool{}}
		for _, k := range d.SKUs {
			md.skus[k.SKU] = &memSKU{sku: k, stock: k.Stock, free: k.Stock}
		}
		s.drops[d.ID] = md
		return memResult{changed: true}
	case "edit":
		return s.applyEdit(op) // memstore_drops.go
	case "state":
		md, ok := s.drops[op.ID]
		if !ok {
			return memResult{err: fmt.Errorf("drop %s: %w", op.ID, ErrNotFound)}
		}
		cur, to := md.d.State, op.State
		if cur == to {
			return memResult{}
		}
		if (cur == StateCreated && (to == StateOpen || to == StateClosed)) || (cur == StateOpen && to == StateClosed) ||
			(cur == StateDrawing && to == StateClosed) {
			md.d.State = to
			if to == StateOpen {
				md.d.OpenedAt = time.UnixMilli(op.NowMs).UTC()
			}
			return memResult{changed: true}
		}
		return memResult{err: fmt.Errorf("drop %s is %s, cannot become %s: %w", op.ID, cur, to, ErrConflict)}
	case "grant":
		l := op.Lease
		md, sk, err := s.skuOf(l.Drop, l.SKU)
		if err != nil {
			return memResult{err: err}
		}
		if prev, ok := s.ops[l.Drop+"|"+l.OpID]; ok {
			return memResult{grant: prev.G}
		}
		f := leaseField(l.SKU, l.Edge)
		g := Grant{Lease: md.leases[f], Free: sk.open()}
		if md.d.State != StateOpen {
			g.NotOpen = true
		} else if n := min(l.Units, sk.open()-l.Threshold); n <= 0 {
			g.Direct = true
		} else {
			sk.free -= n
			sk.leased += n
			md.leases[f] += n
			md.leaseExp[f] = op.NowMs + l.TTL.Milliseconds()
			g = Grant{Units: n, Lease: md.leases[f], Free: sk.open()}
		}
		s.ops[l.Drop+"|"+l.OpID] = memOpResult{G: g}
		return memResult{changed: true, grant: g}
	case "return":
		l := op.Lease
		md, sk, err := s.skuOf(l.Drop, l.SKU)
		if err != nil {
			return memResult{err: err}
		}
		if prev, ok := s.ops[l.Drop+"|"+l.OpID]; ok {
			return memResult{n: prev.N}
		}
		f := leaseField(l.SKU, l.Edge)
		n := max(0, min(l.Units, md.leases[f]))
		sk.free += n
		sk.leased -= n
		md.leases[f] -= n
		if md.leases[f] <= 0 {
			delete(md.leases, f)
			delete(md.leaseExp, f)
		}
		s.ops[l.Drop+"|"+l.OpID] = memOpResult{N: n}
		return memResult{changed: true, n: n}
	case "renew":
		l := op.Lease
		md, ok := s.drops[l.Drop]
		if !ok {
			return memResult{err: fmt.Errorf("drop %s: %w", l.Drop, ErrNotFound)}
		}
		f := leaseField(l.SKU, l.Edge)
		n, ok := md.leases[f]
		if !ok {
			return memResult{err: ErrLeaseGone}
		}
		md.leaseExp[f] = op.NowMs + l.TTL.Milliseconds()
		return memResult{changed: true, n: n}
	case "ship", "direct":
		return s.applySale(op)
	case "allow":
		return s.applyAllow(op)
	case "reserve", "rsvpsale", "rsvpreturn", "rsvpcancel":
		return s.applyRSVP(op)
	case "lot_start", "lot_enter", "lot_close", "lot_results", "lot_finish", "award":
		return s.applyLottery(op)
	case "release":
		return s.applyRelease(op)
	case "wl_set", "wl_offer":
		return s.applyWaitlist(op) // memstore_waitlist.go
	case "confirm":
		md, o, err := s.orderOf(op.ID)
		if err != nil {
			return memResult{err: err}
		}
		if o.Status != StatusPending {
			return memResult{res: ShipResult{Outcome: Outcome(o.Status), Order: o}}
		}
		o.Status = StatusPaid
		md.orders[o.ID] = o
		delete(md.pending, o.ID)
		md.skus[o.SKU].paid++
		return memResult{changed: true, res: ShipResult{Outcome: "paid", Order: o}}
	case "cancel":
		md, o, err := s.orderOf(op.ID)
		if err != nil {
			return memResult{err: err}
		}
		if o.Status != StatusPending {
			return memResult{res: ShipResult{Outcome: Outcome(o.Status), Order: o}}
		}
		if dl, ok := md.pending[o.ID]; op.Due && ok && dl > op.NowMs {
			return memResult{res: ShipResult{Outcome: "notdue", Order: o}}
		}
		o.Status, o.Reason = StatusCancelled, op.Reason
		sk := md.skus[o.SKU]
		sk.sold -= o.Qty
		sk.orders--
		sk.revenue -= o.TotalCents
		sk.free += o.Qty
		sk.cancelled++
		for _, k := range o.Limits {
			md.used[limitField(o.SKU, k)] -= o.Qty
		}
		delete(md.pending, o.ID)
		md.orders[o.ID] = o
		return memResult{changed: true, res: ShipResult{Outcome: OutcomeCancelled, Order: o}}
	case "refund":
		return s.applyRefund(op)
	case "reclaim":
		l := op.Lease
		md, sk, err := s.skuOf(l.Drop, l.SKU)
		if err != nil {
			return memResult{err: err}
		}
		f := leaseField(l.SKU, l.Edge)
		dl, ok := md.leaseExp[f]
		if !ok || dl > op.NowMs {
			return memResult{}
		}
		n := md.leases[f]
		delete(md.leases, f)
		delete(md.leaseExp, f)
		sk.free += n
		sk.leased -= n
		return memResult{changed: true, n: n}
	}
	return memResult{err: fmt.Errorf("unknown store op %q", op.Kind)}
}
