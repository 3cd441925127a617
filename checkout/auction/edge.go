package auction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// When the payment hold is taken.
const (
	HoldOnBid = "bid" // at the buyer's first valid bid
	HoldOnWin = "win" // by the closer, when they win
)

// EdgeParams build an Edge.
type EdgeParams struct {
	Store Store
	// Payments take holds at first bids (HoldOn bid); nil: none here.
	Payments checkout.PaymentProvider
	HoldOn   string
	Metrics  *EdgeMetrics
	Logger   *slog.Logger
}

// Edge takes buyers' bids to the store and tells the edge's viewers of
// every change of a lot.
type Edge struct {
	store  Store
	pay    checkout.PaymentProvider
	holdOn string
	m      *EdgeMetrics
	logger *slog.Logger
	holds  chan hold

	mu       sync.Mutex
	watchers map[string]map[*watcher]struct{}
	last     map[string]Update
	defs     map[string]Lot // lot definitions never change: read once
}

type hold struct {
	lot   Lot
	buyer string
	cents int64
}

type watcher struct{ ch chan Update }

// watcherQueue bounds each viewer's queue of updates.
const watcherQueue = 8

// NewEdge returns an Edge; Run it.
func NewEdge(p EdgeParams) (*Edge, error) {
	if p.Store == nil {
		return nil, errors.New("auction edge: a store is required")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Metrics == nil {
		p.Metrics, _ = NewEdgeMetrics(nil)
	}
	return &Edge{store: p.Store, pay: p.Payments, holdOn: p.HoldOn, m: p.Metrics, logger: p.Logger.With("component", "auction-edge"),
		holds: make(chan hold, 1024), watchers: map[string]map[*watcher]struct{}{}, last: map[string]Update{}, defs: map[string]Lot{}}, nil
}

// Bid decides one bid of a buyer (the buyer comes from their session).
func (e *Edge) Bid(ctx context.Context, req BidRequest) (Answer, error) {
	start := time.Now()
	held, err := e.holdBid(ctx, req) // wallet.go: refused up front, nothing taken
	if err != nil {
		e.m.bids.WithLabelValues("payment_refused").Inc()
		return Answer{}, err
	}
	a, err := e.store.Bid(ctx, req)
	e.settleBidHold(ctx, req, held, a, err)
	res := string(a.Result)
	if err != nil {
		res = "error"
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) {
			res = "invalid"
		}
	}
	e.m.bids.WithLabelValues(res).Inc()
	e.m.latency.Observe(time.Since(start).Seconds())
	if err == nil && a.First && !a.Replay && e.holdOn == HoldOnBid && e.pay != nil && req.Pay != checkout.PayWallet {
		if l, lerr := e.Def(ctx, req.Lot); lerr == nil {
			select {
			case e.holds <- hold{lot: l, buyer: req.Bid.Buyer, cents: max(req.Bid.AmountCents, req.Bid.MaxCents)}:
			default:
				e.logger.Warn("payment hold queue full", "lot", req.Lot)
			}
		}
	}
	return a, err
}

// Def is lot id's definition, read from the store once.
func (e *Edge) Def(ctx context.Context, id string) (Lot, error) {
	e.mu.Lock()
	l, ok := e.defs[id]
	e.mu.Unlock()
	if ok {
		return l, nil
	}
	snap, err := e.store.Lot(ctx, id)
	if err != nil {
		return Lot{}, err
	}
	e.mu.Lock()
	e.defs[id] = snap.Lot
	e.mu.Unlock()
	return snap.Lot, nil
}

// Lot reads a lot as viewers see it.
func (e *Edge) Lot(ctx context.Context, id string) (Update, error) {
	snap, err := e.store.Lot(ctx, id)
	if err != nil {
		return Update{}, err
	}
	now, err := e.store.Now(ctx)
	if err != nil {
		return Update{}, err
	}
	return UpdateOf(snap, now.UnixMilli()), nil
}

// Watch returns the updates of lot id for one viewer, until stop.
func (e *Edge) Watch(id string) (updates <-chan Update, stop func()) {
	w := &watcher{ch: make(chan Update, watcherQueue)}
	e.mu.Lock()
	if e.watchers[id] == nil {
		e.watchers[id] = map[*watcher]struct{}{}
	}
	e.watchers[id][w] = struct{}{}
	e.mu.Unlock()
	return w.ch, func() {
		e.mu.Lock()
		delete(e.watchers[id], w)
		if len(e.watchers[id]) == 0 {
			delete(e.watchers, id)
		}
		e.mu.Unlock()
	}
}

// publish hands an update to every viewer of its lot; a full queue drops
// the update for that viewer (the next one carries the whole state).
func (e *Edge) publish(u Update) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, ok := e.last[u.Lot]; ok && prev.Seq > u.Seq {
		return // an older update arriving late
	}
	e.last[u.Lot] = u
	for w := range e.watchers[u.Lot] {
		select {
		case w.ch <- u:
		default:
			e.m.dropped.Inc()
		}
	}
}

// Run follows the store's changes and takes payment holds until ctx ends.
func (e *Edge) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { e.holdLoop(ctx) })
	updates := make(chan Snapshot, 256)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-updates:
				// The store's clock is not read per update: the viewer's
				// countdown runs on ends_ms against now_ms of its first read.
				e.publish(UpdateOf(s, time.Now().UnixMilli()))
			}
		}
	})
	Follow(ctx, e.store, func(s Snapshot) {
		select {
		case updates <- s:
		default:
			e.m.dropped.Inc()
		}
	}, func(err error) { e.logger.Warn("auction updates lost; resubscribing", "err", err) })
	return nil
}

// HoldID is the payment id of a buyer's hold for a lot: the id of the
// order the lot becomes if they win, so the provider's idempotency by
// order id makes a retried hold one hold.
func HoldID(lot, buyer string) string { return checkout.OrderID(orderDrop(lot), buyer, "auction") }

func (e *Edge) holdLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case h := <-e.holds:
			auth, err := e.pay.Authorize(ctx, checkout.PaymentRequest{OrderID: HoldID(h.lot.ID, h.buyer), Buyer: h.buyer,
				AmountCents: h.cents, Currency: h.lot.Currency})
			if err != nil {
				e.logger.Warn("payment hold refused", "lot", h.lot.ID, "err", err)
				continue
			}
			if err := e.store.SetHold(ctx, h.lot.ID, h.buyer, auth); err != nil {
				e.logger.Warn("payment hold not recorded", "lot", h.lot.ID, "err", fmt.Errorf("set hold: %w", err))
			}
		}
	}
}
