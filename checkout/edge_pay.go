package checkout

import (
	"context"
	"errors"
	"time"
)

// Payments: accepted orders are authorized and captured by the provider in
// the background, then confirmed (or cancelled and refunded) in the store.

func (e *Edge) enqueuePayment(o Order) {
	select {
	case e.payq <- o:
	default:
		// The hold expires and the units come back; say so once in a while.
		e.m.payments.WithLabelValues("queue_full").Inc()
	}
}

func (e *Edge) payLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-e.payq:
			e.payOne(ctx, o)
		}
	}
}

func (e *Edge) payOne(ctx context.Context, o Order) {
	auth, err := e.authorize(ctx, PaymentRequest{OrderID: o.ID, Buyer: o.Buyer, AmountCents: o.TotalCents, Currency: o.Currency, Method: o.Pay})
	if errors.Is(err, ErrPaymentDeclined) {
		e.m.payments.WithLabelValues("declined").Inc()
		e.retry(ctx, func(ctx context.Context) error {
			_, err := e.store.Cancel(ctx, o.ID, "payment_declined")
			return err
		})
		return
	}
	if err == nil {
		err = e.pay.Capture(ctx, auth)
	}
	if err != nil {
		// Not confirmed: the hold expires and the units come back.
		e.m.payments.WithLabelValues("error").Inc()
		return
	}
	var got Order
	e.retry(ctx, func(ctx context.Context) error {
		var err error
		got, err = e.store.ConfirmPayment(ctx, o.ID)
		return err
	})
	switch got.Status {
	case StatusPaid:
		e.m.payments.WithLabelValues("paid").Inc()
	case StatusCancelled:
		// The hold expired first: give the money back.
		if err := e.pay.Refund(ctx, auth); err != nil {
			e.logger.Error("refund failed", "order", o.ID, "err", err)
			e.m.payments.WithLabelValues("error").Inc()
			return
		}
		e.m.payments.WithLabelValues("refunded").Inc()
	}
}

// retry runs f with bounded backoff until it succeeds, fails for good, or
// ctx ends.
func (e *Edge) retry(ctx context.Context, f func(context.Context) error) {
	backoff := 20 * time.Millisecond
	for attempt := 0; attempt < 50; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
		err := f(cctx)
		cancel()
		if err == nil || ClassOf(err) != ClassUnavailable {
			if err != nil {
				e.logger.Warn("payment bookkeeping failed", "err", err)
			}
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}
