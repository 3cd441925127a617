package wallet

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// Orders reads orders from the checkout store (a checkout.Store).
type Orders interface {
	Order(ctx context.Context, id string) (checkout.Order, error)
}

// Reconciler gives back holds nothing will settle: an order held at an
// edge that was then cancelled (its stock hold expired unpaid, the seller
// took it back) or never accepted at all (the store did not answer and the
// buyer did not retry). It runs on the origin, beside the reaper of
// expired orders.
type Reconciler struct {
	store    Store
	orders   Orders
	age      time.Duration
	interval time.Duration
	now      func() time.Time
	m        *Metrics
	logger   *slog.Logger
}

// reconcileBatch bounds the holds looked at per pass.
const reconcileBatch = 200

// NewReconciler looks every interval at the holds older than age (longer
// than an order waits for its payment, so a pending order has expired).
func NewReconciler(store Store, orders Orders, age, interval time.Duration, now func() time.Time, m *Metrics, logger *slog.Logger) *Reconciler {
	if now == nil {
		now = time.Now
	}
	return &Reconciler{store: store, orders: orders, age: age, interval: interval, now: now, m: m,
		logger: logger.With("component", "wallet-reconciler")}
}

// Run reconciles until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.logger.Debug("wallet reconcile", "err", err)
		}
	}
}

// Pass looks at one batch of old holds and releases those whose order is
// over unpaid or does not exist; it says how many it released.
func (r *Reconciler) Pass(ctx context.Context) (int, error) {
	ids, err := r.store.OpenHolds(ctx, r.now().Add(-r.age), reconcileBatch)
	if err != nil {
		return 0, err
	}
	released := 0
	for _, id := range ids {
		if raw, err := r.store.HoldOf(ctx, id); err != nil {
			return released, err
		} else if h, _ := decodeHold(raw); h.Bid {
			continue // an auction's: its closer settles it
		}
		o, err := r.orders.Order(ctx, id)
		switch {
		case errors.Is(err, checkout.ErrNotFound):
			if inLine, lerr := r.inLine(ctx, id); lerr != nil {
				return released, lerr
			} else if inLine {
				continue // a lottery entry's, not drawn yet: the draw settles it
			}
		case err != nil:
			return released, err
		case o.Status == checkout.StatusPending:
			continue // its payment may still come
		case o.Status == checkout.StatusPaid && o.Pay == MethodWallet:
			// Paid from the wallet with the hold not settled: settle it,
			// unless it was paid by a spend of its own (before holds).
			if _, spent, err := r.store.Entry(ctx, spendKey(id)); err != nil {
				return released, err
			} else if !spent {
				if _, _, err := CaptureHold(ctx, r.store, id, r.now()); err != nil && !errors.Is(err, ErrNoHold) {
					return released, err
				}
				continue
			}
		}
		_, changed, err := ReleaseHold(ctx, r.store, id, r.now())
		if err != nil {
			return released, err
		}
		if changed {
			released++
			r.m.hold("reconciled")
			r.logger.Info("wallet hold released", "order", id, "status", o.Status)
		}
	}
	return released, nil
}

// entries reads lottery entries (a checkout.Store does).
type entries interface {
	Entry(ctx context.Context, drop, id string) (checkout.Entry, error)
}

// inLine says whether order id is a lottery entry not drawn yet, whose
// hold waits for the draw (false when the orders cannot tell).
func (r *Reconciler) inLine(ctx context.Context, id string) (bool, error) {
	es, ok := r.orders.(entries)
	drop, valid := checkout.DropOfOrder(id)
	if !ok || !valid {
		return false, nil
	}
	en, err := es.Entry(ctx, drop, id)
	switch {
	case errors.Is(err, checkout.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return en.Result == checkout.EntryInLine, nil
}
