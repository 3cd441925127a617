package checkout

import (
	"context"
	"errors"
	"fmt"
)

// Payment holds: a payment provider that can reserve an order's amount
// before the order is accepted (a wallet's balance) implements
// PaymentHolder; the edge then holds before it takes any stock or
// allowance, refuses the order up front when the hold is refused, and
// releases the hold of an order it refused after all.

// PaymentHolder is a PaymentProvider that reserves payments up front. Both
// calls are idempotent by order id, so a retry through any edge holds once.
type PaymentHolder interface {
	// Hold reserves req's amount (nil for a method it does not hold, as a
	// card order). It answers a *PaymentRefusal when it cannot.
	Hold(ctx context.Context, req PaymentRequest) error
	// Release gives back the hold of an order that was not accepted (or
	// is over without payment); an order not held is left as it is.
	Release(ctx context.Context, orderID string) error
}

// ErrPaymentRefused is the class of a PaymentRefusal.
var ErrPaymentRefused = &classError{ClassConflict, "payment refused"}

// PaymentRefusal refuses an order whose payment could not be reserved (a
// wallet balance too low): nothing was taken for it.
type PaymentRefusal struct {
	// Code is a stable name for clients ("insufficient_balance").
	Code string
	// Msg says what happened in words.
	Msg string
	// BalanceCents and Currency are the buyer's balance when refused.
	BalanceCents int64
	Currency     string
}

func (e *PaymentRefusal) Error() string { return e.Msg }

// Unwrap makes a refusal ClassConflict.
func (e *PaymentRefusal) Unwrap() error { return ErrPaymentRefused }

// holdPayment reserves o's payment if the provider holds payments; held
// says a hold may now exist that a refusal must release.
func (e *Edge) holdPayment(ctx context.Context, o Order) (held bool, err error) {
	h, ok := e.pay.(PaymentHolder)
	if !ok {
		return false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	err = h.Hold(cctx, PaymentRequest{OrderID: o.ID, Buyer: o.Buyer, AmountCents: o.TotalCents, Currency: o.Currency, Method: o.Pay})
	if err == nil {
		return true, nil
	}
	if _, refused := errors.AsType[*PaymentRefusal](err); refused || ClassOf(err) != ClassInternal {
		return false, err
	}
	return false, fmt.Errorf("reserve the payment: %w: %w", ErrUnavailable, err)
}

// settleHold releases o's hold after accept answered it with err (or, for
// an order found as it is, with its status): a definitive refusal or an
// order over means the hold pays for nothing. A store that did not answer
// may have sold: the hold stays for the payment or a retry to settle.
func (e *Edge) settleHold(id string, o Order, path string, err error) {
	switch {
	case err != nil:
		if c := ClassOf(err); c == ClassUnavailable || c == ClassInternal {
			return
		}
	case path != "lookup" || o.Status == StatusPending:
		return // the payment settles it
	}
	h := e.pay.(PaymentHolder)
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.StoreTimeout)
	defer cancel()
	if rerr := h.Release(ctx, id); rerr != nil {
		e.logger.Warn("release the payment hold of a refused order", "order", id, "err", rerr)
	}
}

// GuestRefusals is a payment provider that counts the wallet payments a
// guest session asked for and was refused (a *wallet.Payments).
type GuestRefusals interface{ RefusedGuest() }

// RefusedGuest counts a guest's wallet order refused before it reached the
// edge (the HTTP layer refuses it: a guest has no wallet), if the payment
// provider counts such refusals.
func (e *Edge) RefusedGuest() {
	if c, ok := e.pay.(GuestRefusals); ok {
		c.RefusedGuest()
	}
}
