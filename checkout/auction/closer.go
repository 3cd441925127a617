package auction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// orderDrop is the checkout drop a won lot's order is recorded in: one
// SKU (the lot), one unit.
func orderDrop(lot string) string { return "lot-" + lot }

// CloserParams build a Closer.
type CloserParams struct {
	Store  Store
	Orders checkout.Store
	// Payments take the winner's hold (HoldOn win) and capture it.
	Payments checkout.PaymentProvider
	HoldOn   string
	// Interval is how often lots are looked at (default 100 ms).
	Interval time.Duration
	Metrics  *CloserMetrics
	Logger   *slog.Logger
}

// Closer runs on the origin: it ends lots whose time is up (by the store's
// clock) and makes each won lot an order, once, in the checkout store.
type Closer struct {
	p      CloserParams
	logger *slog.Logger
}

// NewCloser returns a Closer; Run it.
func NewCloser(p CloserParams) (*Closer, error) {
	if p.Store == nil || p.Orders == nil || p.Payments == nil {
		return nil, errors.New("auction closer: the lot store, the order store and payments are required")
	}
	if p.Interval <= 0 {
		p.Interval = 100 * time.Millisecond
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Metrics == nil {
		p.Metrics, _ = NewCloserMetrics(nil)
	}
	return &Closer{p: p, logger: p.Logger.With("component", "auction-closer")}, nil
}

// Run closes lots until ctx ends.
func (c *Closer) Run(ctx context.Context) error {
	t := time.NewTicker(c.p.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ids, err := c.p.Store.Open(ctx)
		if err != nil {
			continue
		}
		for _, id := range ids {
			if ctx.Err() != nil {
				return nil // the lots left are settled by the next run
			}
			if err := c.Settle(ctx, id); err != nil && ctx.Err() == nil {
				c.logger.Warn("lot not settled yet", "lot", id, "err", err)
			}
		}
	}
}

// Settle ends lot id if its time is up and, when won, makes it an order
// and captures the winner's payment; losers' holds are released. Every
// step is idempotent: a retry after a crash finishes the job once. Several
// closers (an origin and its standbys) may settle a lot at once: the lot
// is counted won or unsold only by the one whose Close closed it.
func (c *Closer) Settle(ctx context.Context, id string) error {
	snap, ended, err := c.p.Store.Finish(ctx, id)
	if err != nil || !ended {
		return err
	}
	if snap.Closed {
		// Settled already; a close cut off before the lot left the open
		// ones leaves it listed: close again (not counted).
		_, err := c.p.Store.Close(ctx, id)
		return err
	}
	holds, err := c.p.Store.Holds(ctx, id)
	if err != nil {
		return err
	}
	winner, price, ok := Winner(snap.Lot, snap.State)
	paid := false
	if ok {
		o, err := c.order(ctx, snap, winner, price, holds[winner])
		if err != nil {
			return err
		}
		if o.Status == checkout.StatusCancelled { // the winner's payment declined at the win: unpaid.go
			c.logger.Warn("lot won but its payment declined: the order is cancelled, the lot unsold", "lot", id, "order", o.ID, "price_cents", price)
		} else {
			if err := c.p.Store.SetOrder(ctx, id, o.ID); err != nil {
				return err
			}
			paid = true
			c.logger.Info("lot won", "lot", id, "order", o.ID, "price_cents", price)
		}
	}
	for buyer, auth := range holds {
		if buyer == winner && ok {
			continue
		}
		if err := c.p.Payments.Refund(ctx, auth); err != nil {
			c.logger.Warn("hold not released", "lot", id, "err", err)
		}
	}
	first, err := c.p.Store.Close(ctx, id)
	if !first {
		return err
	}
	if paid {
		c.p.Metrics.won.Inc()
		c.p.Metrics.uplift.WithLabelValues(snap.Lot.Currency).Add(float64(price - snap.Lot.StartCents))
	} else {
		c.p.Metrics.unsold.Inc()
	}
	return err
}

// order records the won lot as an order of its own drop (one unit), by a
// fixed id, so recording it again finds it; then takes the payment.
func (c *Closer) order(ctx context.Context, snap Snapshot, winner string, price int64, auth string) (checkout.Order, error) {
	l := snap.Lot
	drop := orderDrop(l.ID)
	stream := l.Stream
	if stream == "" {
		stream = "auction"
	}
	err := c.p.Orders.CreateDrop(ctx, checkout.Drop{ID: drop, Stream: stream,
		SKUs: []checkout.SKU{{SKU: l.ID, Name: l.Title, PriceCents: price, Currency: l.Currency, Stock: 1}}})
	if err != nil && !errors.Is(err, checkout.ErrDropExists) {
		return checkout.Order{}, fmt.Errorf("lot %s: order drop: %w", l.ID, err)
	}
	if err := c.p.Orders.SetState(ctx, drop, checkout.StateOpen); err != nil && !errors.Is(err, checkout.ErrConflict) {
		return checkout.Order{}, fmt.Errorf("lot %s: open the order drop: %w", l.ID, err)
	}
	o := checkout.Order{ID: HoldID(l.ID, winner), Drop: drop, SKU: l.ID, Qty: 1, Buyer: winner, PriceCents: price,
		Currency: l.Currency, TotalCents: price, Status: checkout.StatusPending, Edge: "auction", CreatedAt: time.Now().UTC(),
		Channel: "auction", Pay: payOf(auth)}
	if stored, err := c.p.Orders.Order(ctx, o.ID); err == nil {
		o = stored
	} else {
		res, err := c.p.Orders.SellDirect(ctx, checkout.ShipItem{Order: o, Hold: time.Hour})
		if err != nil {
			return checkout.Order{}, fmt.Errorf("lot %s: record the order: %w", l.ID, err)
		}
		switch res.Outcome {
		case checkout.OutcomeCreated, checkout.OutcomeExists, checkout.OutcomeDuplicate:
			o = res.Order
		default:
			return checkout.Order{}, fmt.Errorf("lot %s: the order store answered %s", l.ID, res.Outcome)
		}
	}
	_ = c.p.Orders.SetState(ctx, drop, checkout.StateClosed)
	if o.Status != checkout.StatusPending {
		return o, nil
	}
	if auth == "" || c.p.HoldOn == HoldOnWin || o.Pay == checkout.PayWallet {
		// A wallet bid's hold is settled at the price (what it held over
		// the price goes back to the balance): wallet.go.
		a, err := c.p.Payments.Authorize(ctx, checkout.PaymentRequest{OrderID: o.ID, Buyer: winner, AmountCents: price, Currency: l.Currency,
			Method: o.Pay})
		if errors.Is(err, checkout.ErrPaymentDeclined) {
			return c.unpaid(ctx, o, auth, err)
		}
		if err != nil {
			return o, fmt.Errorf("lot %s: payment: %w", l.ID, err)
		}
		auth = a
	}
	if err := c.p.Payments.Capture(ctx, auth); err != nil {
		return o, fmt.Errorf("lot %s: capture: %w", l.ID, err)
	}
	return c.p.Orders.ConfirmPayment(ctx, o.ID)
}
