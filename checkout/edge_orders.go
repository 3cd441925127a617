package checkout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/livedrop/livedrop/internal/kpi"
)

// orderBook is the edge's memory of orders by id: first attempts in flight,
// orders it sold, and orders it learned from the store. mu guards the map
// and the o, journal and shipped fields of every entry.
type orderBook struct {
	mu     sync.Mutex
	orders map[string]*edgeOrder
}

// edgeOrder is one order id at this edge.
type edgeOrder struct {
	done chan struct{} // closed once the first attempt has its answer
	err  error         // that attempt's refusal; written before done closes
	at   time.Time     // when it was accepted, for the ship lag

	// Guarded by orderBook.mu.
	o       Order
	journal bool // sold from the lease (journaled, shipped later)
	shipped bool
}

// claim returns the entry for id, creating it (first) when there is none.
func (b *orderBook) claim(id string) (eo *edgeOrder, first bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if eo, ok := b.orders[id]; ok {
		return eo, false
	}
	eo = &edgeOrder{done: make(chan struct{}), at: time.Now()}
	b.orders[id] = eo
	return eo, true
}

// put adds a finished entry (journal replay).
func (b *orderBook) put(id string, eo *edgeOrder) {
	b.mu.Lock()
	b.orders[id] = eo
	b.mu.Unlock()
}

func (b *orderBook) forget(id string) {
	b.mu.Lock()
	delete(b.orders, id)
	b.mu.Unlock()
}

// order reads the entry's order.
func (b *orderBook) order(eo *edgeOrder) Order {
	b.mu.Lock()
	defer b.mu.Unlock()
	return eo.o
}

// shippedOrder reads the entry's order and whether the store has it.
func (b *orderBook) shippedOrder(eo *edgeOrder) (Order, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return eo.o, eo.shipped
}

// markShipped notes that the store has order id, if this edge knows it.
func (b *orderBook) markShipped(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if eo, ok := b.orders[id]; ok {
		eo.shipped = true
	}
}

// lookup returns the order of id if this edge has one.
func (b *orderBook) lookup(id string) (Order, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	eo, ok := b.orders[id]
	if !ok || eo.o.ID == "" {
		return Order{}, false
	}
	return eo.o, true
}

// update changes the entry's guarded fields.
func (b *orderBook) update(eo *edgeOrder, f func(eo *edgeOrder)) {
	b.mu.Lock()
	f(eo)
	b.mu.Unlock()
}

// PlaceOrder accepts an order or says why not. The same drop, buyer and
// idempotency key always name the same order, at every edge: a retry returns
// it, and no edge refuses a key another edge has accepted. A refusal comes
// from the store, which looks the key up first, or from memory only when the
// last sync proves it (soldOutFor).
func (e *Edge) PlaceOrder(ctx context.Context, req OrderRequest) (Order, error) {
	start := time.Now()
	o, path, err := e.placeOrder(ctx, req)
	took := time.Since(start).Seconds()
	res := resultLabel(err)
	e.m.orders.WithLabelValues(res).Inc()
	if req.Member || errors.Is(err, ErrMembersOnly) {
		e.memberOrders.WithLabelValues(memberResult(err)).Inc()
	}
	e.m.answerLatency.WithLabelValues(res).Observe(took)
	if err == nil && path != "" {
		e.m.acceptLatency.WithLabelValues(path).Observe(took)
	}
	return o, err
}

func (e *Edge) placeOrder(ctx context.Context, req OrderRequest) (Order, string, error) {
	if err := req.Validate(); err != nil {
		return Order{}, "", err
	}
	select {
	case <-e.ready:
	default:
		return Order{}, "", fmt.Errorf("edge starting: %w", ErrUnavailable)
	}
	e.gate.RLock()
	defer e.gate.RUnlock()
	if e.closing {
		return Order{}, "", ErrClosed
	}
	if kind := e.rate.allow(req.Buyer, req.Device, req.IP); kind != "" {
		e.m.rateLimited.WithLabelValues(kind).Inc()
		return Order{}, "", fmt.Errorf("too many orders from this %s: %w", kind, ErrRateLimited)
	}
	id := OrderID(req.Drop, req.Buyer, req.IdempotencyKey)
	eo, first := e.book.claim(id)
	if !first {
		select {
		case <-eo.done:
		case <-ctx.Done():
			return Order{}, "", fmt.Errorf("the first attempt with this key is in progress: %w", ErrUnavailable)
		}
		if eo.err != nil {
			return Order{}, "", eo.err
		}
		return e.book.order(eo), "", nil
	}
	o, path, err := e.accept(ctx, req, id, eo)
	if err != nil {
		if o2, err2 := e.lotteryRefusal(ctx, req, id, err); err2 == nil { // edge_lottery.go
			o, path, err = o2, "lookup", nil
		} else {
			err = err2
		}
	}
	if err != nil {
		e.book.forget(id)
		eo.err = err
	} else {
		e.book.update(eo, func(eo *edgeOrder) { eo.o = o })
		if path != "lease" {
			e.noteAccepted(o, path) // the journal knows the key after a restart
		}
		if path == "lookup" && o.Status == StatusPending {
			// The attempt that made it may have lost the store's answer (and
			// with it the payment): ask for it again; payment calls are
			// idempotent by order id.
			e.enqueuePayment(o)
		}
		if path != "lookup" {
			e.m.revenue.WithLabelValues(o.Currency).Add(float64(o.TotalCents))
			ch := kpi.Channel(o.Channel)
			e.m.eventOrders.WithLabelValues(o.Drop, ch, o.Region).Inc()
			e.m.eventUnits.WithLabelValues(o.Drop, ch, o.Region).Add(float64(o.Qty))
			e.m.eventGMV.WithLabelValues(o.Drop, ch, o.Region, o.Currency).Add(float64(o.TotalCents))
		}
	}
	close(eo.done)
	return o, path, err
}

// accept sells from the lease when it can and asks the store otherwise. The
// path says which: "lease", "direct", or "lookup" (another edge or an earlier
// attempt had accepted the key).
func (e *Edge) accept(ctx context.Context, req OrderRequest, id string, eo *edgeOrder) (Order, string, error) {
	ed, err := e.dropFor(ctx, req.Drop)
	if err != nil {
		return Order{}, "", err
	}
	state, sk := ed.stateAndSKU(req.SKU)
	if sk == nil {
		return Order{}, "", fmt.Errorf("sku %s of drop %s: %w", req.SKU, req.Drop, ErrNotFound)
	}
	def := sk.definition()
	price, err := memberTerms(ed.membersUntil(), def, req.Member, e.now()) // members.go
	if err != nil && e.rsvpEarly(req, err) {
		price, err = def.PriceCents, nil // edge_rsvp_early.go: an RSVP's unit is the holder's
	}
	if err != nil {
		return Order{}, "", err
	}
	price, currency := regionalTerms(def, e.region, price) // prices.go
	lims := limitsOf(def, req.Buyer, req.Device, req.IP)
	for _, l := range lims {
		if req.Qty > l.Max {
			// No edge can have accepted this request: it is refused as it stands.
			return Order{}, "", e.errLimit(def, l.Key)
		}
	}
	if ed.lottery() != nil && state != StateOpen { // an entry of the opening lottery (edge_lottery.go)
		if o, done, err := e.enterLottery(ctx, req, id, def, price, currency, lims, eo); done {
			return o, "lookup", err
		}
		state = StateOpen
	}
	if o, found, err := e.pastOrder(ctx, id); err != nil {
		return Order{}, "", err
	} else if found {
		// This edge accepted the key before its last checkpoint.
		e.book.update(eo, func(eo *edgeOrder) { eo.shipped = true })
		return o, "lookup", nil
	}
	if req.Retry {
		// The client says an earlier attempt may have been accepted elsewhere:
		// one read answers with that order exactly as the store has it.
		if o, found, err := e.storedOrder(ctx, id); err == nil && found {
			e.book.update(eo, func(eo *edgeOrder) { eo.shipped = true })
			return o, "lookup", nil
		}
	}
	o := Order{
		ID: id, Drop: req.Drop, SKU: req.SKU, Qty: req.Qty, Buyer: req.Buyer,
		PriceCents: price, Currency: currency, TotalCents: price * int64(req.Qty),
		Status: StatusPending, Edge: e.id, CreatedAt: time.Now().UTC(), Limits: limitKeys(lims),
		Channel: kpi.Channel(req.Channel), Region: e.region,
		Fulfilment: req.Fulfilment, Pay: req.Pay,
	}
	held, err := e.holdPayment(ctx, o) // payment_hold.go: refused up front, nothing taken
	if err != nil {
		return Order{}, "", err
	}
	got, path, err := e.sell(ctx, req, ed, state, o, def, lims, sk, eo)
	if held {
		e.settleHold(id, got, path, err)
	}
	return got, path, err
}

// sell takes order o from the RSVP's units, the lease or the store.
func (e *Edge) sell(ctx context.Context, req OrderRequest, ed *edgeDrop, state string, o Order, def SKU, lims []Limit, sk *edgeSKU, eo *edgeOrder) (Order, string, error) {
	id := o.ID
	if req.RSVP != "" {
		return e.sellRSVP(ctx, req, o, def, lims, sk, eo) // from the reserved units (edge_rsvp.go)
	}
	if state == StateOpen {
		var giveUp time.Time // waiting for an allowance: held_wait from the first need
		for {
			ok, need, over := e.sellFromLease(sk, o, lims)
			if over != "" {
				return e.refuseLimit(ctx, id, eo, def, over)
			}
			if need != nil {
				if giveUp.IsZero() {
					giveUp = time.Now().Add(e.cfg.HeldWait)
				}
				if err := e.acquire(ctx, req.Drop, req.SKU, sk, need, giveUp); err != nil {
					return Order{}, "", err
				}
				continue
			}
			if ok {
				if err := e.journalOrder(o, sk, eo); err != nil {
					return Order{}, "", err
				}
				return o, "lease", nil
			}
			break
		}
		e.kickSync()
		if !req.Retry && ed.soldOutFor(sk, id, o.Qty, e.soldOutFresh()) {
			e.m.lookups.WithLabelValues("index_not_found").Inc()
			return Order{}, "", ErrSoldOut
		}
	}
	// No lease units here, or the drop is not open as this edge last saw
	// it: the store decides, and it looks the key up before anything else.
	return e.sellFromStore(ctx, req, ed, o, def, lims, sk, eo)
}

// refuseLimit refuses an order over the limit named by key, unless the key
// itself was accepted somewhere, which the store knows.
func (e *Edge) refuseLimit(ctx context.Context, id string, eo *edgeOrder, def SKU, key string) (Order, string, error) {
	if so, found, err := e.storedOrder(ctx, id); err != nil {
		return Order{}, "", err
	} else if found {
		e.book.update(eo, func(eo *edgeOrder) { eo.shipped = true })
		return so, "lookup", nil
	}
	return Order{}, "", e.errLimit(def, key)
}

// soldOutFor answers "sold out" for order id from memory when the last sync
// makes it certain: the store had no free units and no edge held a lease
// (an order sold from a lease and not yet shipped is still counted in its
// lease), and the drop's order index, read after that view, does not hold
// id. It can be wrong only for an unmarked retry of a key whose order was
// sold from units freed (a cancelled hold) after that view, within fresh;
// a retry marked with Idempotency-Retry always asks the store.
func (ed *edgeDrop) soldOutFor(sk *edgeSKU, id string, qty int, fresh time.Duration) bool {
	ed.mu.Lock()
	_, known := ed.known[id]
	covers := ed.knownFor
	ed.mu.Unlock()
	if known || covers.IsZero() {
		return false
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return sk.avail < qty && !sk.viewAt.IsZero() && time.Since(sk.viewAt) < fresh && !covers.Before(sk.viewAt) &&
		sk.view.Free < qty && sk.view.Leased == 0
}

// soldOutFresh is how old a view may be to answer sold out from memory: a
// few syncs, so a store that stopped answering turns it off.
func (e *Edge) soldOutFresh() time.Duration { return max(3*e.cfg.SyncInterval, 300*time.Millisecond) }

// sellFromLease takes the units from the lease if it can, under the
// allowances of lims: it says which allowances the edge must acquire first
// (need) or which limit refuses (over). Without lease units it sells
// nothing and checks no allowance (the store path does).
func (e *Edge) sellFromLease(sk *edgeSKU, o Order, lims []Limit) (ok bool, need []Limit, over string) {
	now := time.Now()
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if !sk.recovered || sk.avail < o.Qty || !now.Before(sk.deadline) {
		return false, nil, ""
	}
	if need, over = sk.checkAllowances(lims, o.Qty, now); need != nil || over != "" {
		return false, need, over
	}
	sk.takeAllowances(o.Limits, o.Qty, now)
	sk.avail -= o.Qty
	sk.unshipped += o.Qty
	sk.soldTick += o.Qty
	sk.left = max(0, sk.left-o.Qty)
	if sk.avail < e.lowWater(sk) {
		e.kickSync()
	}
	return true, nil, ""
}

// sellFromStore sells against the store's free stock. The store's answer is
// atomic and looks the order id up first, so a key another edge accepted is
// answered with its order, never refused. While other edges still hold the
// last units (held) it waits for this edge's next syncs, not polling the
// store: a sync that shows units free asks the store again, one that proves
// sold out answers so from memory. After HeldWait (which also bounds the
// wait for an allowance another edge holds) it answers ErrHeld (try again
// shortly): never a silent wait, never "sold out" while units may come back. The order's
// allowances are taken before each attempt and given back if it fails.
func (e *Edge) sellFromStore(ctx context.Context, req OrderRequest, ed *edgeDrop, o Order, def SKU, lims []Limit, sk *edgeSKU, eo *edgeOrder) (Order, string, error) {
	giveUp := time.Now().Add(e.cfg.HeldWait)
	timer := time.NewTimer(e.cfg.HeldWait)
	defer timer.Stop()
	for {
		if over, err := e.takeForDirect(ctx, sk, o, lims, giveUp); err != nil {
			return Order{}, "", err
		} else if over != "" {
			return e.refuseLimit(ctx, o.ID, eo, def, over)
		}
		res, err := e.sellDirect(ctx, o, lims)
		// A failed call may have sold: its units stay taken (the edge may
		// refuse a unit it could sell, never sell one over a limit).
		counted := err != nil || res.Outcome == OutcomeCreated
		if sk.settleAllowances(o.Limits, o.Qty, counted, err == nil && res.Outcome == OutcomeLimit) {
			e.kickSync()
		}
		if err != nil {
			return Order{}, "", err
		}
		switch res.Outcome {
		case OutcomeCreated:
			sk.mu.Lock()
			sk.left = max(0, sk.left-o.Qty)
			sk.mu.Unlock()
			e.book.update(eo, func(eo *edgeOrder) { eo.shipped = true })
			e.enqueuePayment(res.Order)
			return res.Order, "direct", nil
		case OutcomeExists, OutcomeDuplicate:
			e.book.update(eo, func(eo *edgeOrder) { eo.shipped = true })
			return res.Order, "lookup", nil
		case OutcomeNotOpen:
			return Order{}, "", fmt.Errorf("drop %s: %w", o.Drop, ErrNotOpen)
		case OutcomeLimit:
			return Order{}, "", e.errLimit(def, res.Limit)
		case OutcomeSoldOut:
			return Order{}, "", ErrSoldOut
		case OutcomeLimitHeld:
			// The store names another edge as the holder: ours is gone.
			sk.mu.Lock()
			if a, ok := sk.allow[res.Limit]; ok {
				a.until = time.Time{}
			}
			sk.mu.Unlock()
			continue
		case OutcomeHeld:
			e.m.held.Inc()
		default:
			return Order{}, "", fmt.Errorf("direct sale: unexpected outcome %q", res.Outcome)
		}
		// Held: the units come home within a sync or two (edges return
		// leases once free stock is at the direct threshold).
		for again := false; !again; {
			next := sk.nextView()
			e.kickSync()
			select {
			case <-next:
			case <-timer.C:
				return Order{}, "", ErrHeld
			case <-ctx.Done():
				return Order{}, "", ErrHeld
			}
			if !req.Retry && ed.soldOutFor(sk, o.ID, o.Qty, e.soldOutFresh()) {
				e.m.lookups.WithLabelValues("index_not_found").Inc()
				return Order{}, "", ErrSoldOut
			}
			sk.mu.Lock()
			again = sk.view.Free >= o.Qty || sk.view.Leased == 0
			sk.mu.Unlock()
		}
	}
}

// takeForDirect takes the order's units from its allowances for a direct
// sale (the caller settles them with the store's answer), acquiring them
// first if it must; over names a limit that refuses.
func (e *Edge) takeForDirect(ctx context.Context, sk *edgeSKU, o Order, lims []Limit, giveUp time.Time) (over string, err error) {
	for len(lims) > 0 {
		now := time.Now()
		sk.mu.Lock()
		need, over := sk.checkAllowances(lims, o.Qty, now)
		if need == nil && over == "" {
			sk.takeAllowances(o.Limits, o.Qty, now)
		}
		sk.mu.Unlock()
		if need == nil {
			return over, nil
		}
		if err := e.acquire(ctx, o.Drop, o.SKU, sk, need, giveUp); err != nil {
			return "", err
		}
	}
	return "", nil
}

func (e *Edge) sellDirect(ctx context.Context, o Order, lims []Limit) (ShipResult, error) {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	res, err := e.store.SellDirect(cctx, ShipItem{Order: o, Limits: lims, Hold: e.cfg.HoldTime})
	if err != nil {
		if ClassOf(err) == ClassInternal {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return ShipResult{}, fmt.Errorf("no lease units at this edge and the store failed: %w", err)
	}
	return res, nil
}

// storedOrder reads id from the store: found is false when the store has no
// such order; err is set when the store could not answer.
func (e *Edge) storedOrder(ctx context.Context, id string) (o Order, found bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	o, err = e.store.Order(cctx, id)
	switch {
	case err == nil:
		e.m.lookups.WithLabelValues("found").Inc()
		return o, true, nil
	case errors.Is(err, ErrNotFound):
		e.m.lookups.WithLabelValues("not_found").Inc()
		return Order{}, false, nil
	}
	e.m.lookups.WithLabelValues("error").Inc()
	return Order{}, false, fmt.Errorf("look the order up: %w: %w", ErrUnavailable, err)
}

// RetryHint is how long a client told ErrHeld should wait before it asks
// again: the units other edges hold come home within about a sync.
func (e *Edge) RetryHint() time.Duration { return max(e.cfg.SyncInterval, 50*time.Millisecond) }

func (e *Edge) kickSync() {
	select {
	case e.syncKick <- struct{}{}:
	default:
	}
}

// Order reads an order: the store's copy when it answers, else this edge's.
func (e *Edge) Order(ctx context.Context, id string) (Order, error) {
	if _, ok := DropOfOrder(id); !ok {
		return Order{}, fmt.Errorf("order id %q: %w", id, ErrNotFound)
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	o, err := e.store.Order(cctx, id)
	if err == nil {
		return o, nil
	}
	if local, ok := e.book.lookup(id); ok {
		return local, nil
	}
	return Order{}, err
}

// MaxBuyerOrders is the most orders BuyerOrders returns.
const MaxBuyerOrders = 100

// BuyerOrders lists buyer's own orders of every drop, newest first, at most
// MaxBuyerOrders: the store's, plus the ones this edge accepted and has not
// shipped yet (a buyer sees an order the moment it is accepted). The caller
// names the buyer from a verified session; nobody else's orders are read.
func (e *Edge) BuyerOrders(ctx context.Context, buyer string) ([]Order, error) {
	if !ValidBuyer(buyer) {
		return nil, fmt.Errorf("%w: buyer must be 1-%d of [A-Za-z0-9_.:@-]", ErrInvalid, MaxIDLen)
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	stored, err := e.store.BuyerOrders(cctx, buyer, MaxBuyerOrders)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(stored))
	for _, o := range stored {
		seen[o.ID] = true
	}
	var local []Order
	for _, eo := range e.ship.peek(e.ship.len()) {
		if o := e.book.order(eo); o.Buyer == buyer && !seen[o.ID] {
			seen[o.ID] = true
			local = append(local, o)
		}
	}
	if len(local) == 0 {
		return stored, nil
	}
	out := append(local, stored...)
	slices.SortStableFunc(out, func(a, b Order) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out[:min(len(out), MaxBuyerOrders)], nil
}

// Totals reads a drop's live totals from the store.
func (e *Edge) Totals(ctx context.Context, drop string) (Totals, error) {
	if !ValidID(drop) {
		return Totals{}, fmt.Errorf("drop id: %w", ErrInvalid)
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	t, err := e.store.Totals(cctx, drop)
	if err != nil {
		return Totals{}, err
	}
	t.Lottery, err = lotteryOf(cctx, e.store, drop)
	return t, err
}
