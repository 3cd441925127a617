package wallet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// MethodWallet is the payment method of an order paid from the wallet
// (checkout.Order.Pay, "pay":"wallet" in an order request).
const MethodWallet = checkout.PayWallet

// walletAuth prefixes the authorization ids of wallet payments.
const walletAuth = "wallet:"

// Payments is the payment provider of a node with wallets: orders that say
// pay=wallet are held on the buyer's balance before they are accepted and
// settled from the hold (keyed by the order id, so a retried order never
// pays twice), others go to the card provider. Refunds of wallet payments
// go back to the wallet at once.
type Payments struct {
	card   checkout.PaymentProvider
	store  Store
	m      *Metrics
	now    func() time.Time
	logger *slog.Logger
}

var (
	_ checkout.PaymentProvider = (*Payments)(nil)
	_ checkout.PaymentHolder   = (*Payments)(nil)
	_ checkout.GuestRefusals   = (*Payments)(nil)
)

// NewPayments pays wallet orders from store and the rest through card.
func NewPayments(card checkout.PaymentProvider, store Store, m *Metrics, now func() time.Time, logger *slog.Logger) *Payments {
	if now == nil {
		now = time.Now
	}
	return &Payments{card: card, store: store, m: m, now: now, logger: logger.With("component", "wallet")}
}

// Hold implements checkout.PaymentHolder: a wallet order's amount is
// reserved from the balance before the edge accepts it (once per order
// id); a balance too low is a *checkout.PaymentRefusal and changes
// nothing. Other methods hold nothing here.
func (p *Payments) Hold(ctx context.Context, req checkout.PaymentRequest) error {
	if req.Method != MethodWallet {
		return nil
	}
	_, changed, err := HoldFor(ctx, p.store, req.OrderID, req.Buyer, req.AmountCents, req.Currency, p.now())
	switch {
	case errors.Is(err, ErrInsufficient):
		p.m.refuse("insufficient_balance")
		return p.refusal(ctx, req, err, "this order costs "+Money(req.AmountCents, req.Currency))
	case err != nil:
		p.m.hold("error")
		return err
	case changed:
		p.m.hold("held")
	default:
		p.m.hold("replayed")
	}
	return nil
}

// refusal says why req cannot be paid from the wallet, with the balance
// the refused hold found (short), else as read now; what is what the
// payment needs, in words ("this order costs 25.00 EUR").
func (p *Payments) refusal(ctx context.Context, req checkout.PaymentRequest, short error, what string) error {
	var bal int64
	var se *ShortError
	if errors.As(short, &se) {
		bal = se.BalanceCents
	} else if st, err := p.store.Statement(ctx, req.Buyer, 1); err == nil {
		bal = st.Balances[req.Currency]
	}
	return &checkout.PaymentRefusal{Code: "insufficient_balance", BalanceCents: bal, Currency: req.Currency,
		Msg: fmt.Sprintf("Wallet balance too low: %s left, %s. Top up and tap again.", Money(bal, req.Currency), what)}
}

// RefusedGuest implements checkout.GuestRefusals: a guest session's wallet
// order or bid, refused at the HTTP layer, counts as
// livedrop_wallet_refused_total{reason="email_required"}.
func (p *Payments) RefusedGuest() { p.m.refuse("email_required") }

// Release implements checkout.PaymentHolder: a wallet hold of an order
// that was not accepted goes back to the balance.
func (p *Payments) Release(ctx context.Context, orderID string) error {
	_, changed, err := ReleaseHold(ctx, p.store, orderID, p.now())
	if err == nil && changed {
		p.m.hold("released")
	}
	return err
}

// Authorize implements checkout.PaymentProvider: a wallet order's hold
// is settled to the seller. An order not held up front (an opening
// lottery's, or one whose hold a refusal elsewhere released) is held and
// settled now: ErrPaymentDeclined when the balance is too low.
func (p *Payments) Authorize(ctx context.Context, req checkout.PaymentRequest) (string, error) {
	if req.Method != MethodWallet {
		return p.card.Authorize(ctx, req)
	}
	changed, err := p.settle(ctx, req)
	switch {
	case errors.Is(err, ErrInsufficient):
		p.m.spend("insufficient")
		return "", fmt.Errorf("order %s: %w: %w", req.OrderID, checkout.ErrPaymentDeclined, err)
	case err != nil:
		p.m.spend("error")
		return "", err
	case changed:
		p.m.spend("paid")
	default:
		p.m.spend("replayed")
	}
	return walletAuth + req.OrderID, nil
}

// settle captures req's hold at req's amount: a hold smaller than it (or
// none) is raised first, a larger one (a bid won below its maximum) gives
// the rest back. changed is false for a hold captured before.
func (p *Payments) settle(ctx context.Context, req checkout.PaymentRequest) (changed bool, err error) {
	raw, err := p.store.HoldOf(ctx, req.OrderID)
	if err != nil {
		return false, err
	}
	if cur, err := decodeHold(raw); err != nil || cur.State == HoldCaptured {
		return false, err
	}
	if _, _, err := RaiseHold(ctx, p.store, req.OrderID, req.Buyer, req.AmountCents, req.Currency, p.now()); err != nil {
		return false, err
	}
	if _, _, err := LowerHold(ctx, p.store, req.OrderID, req.AmountCents, p.now()); err != nil {
		return false, err
	}
	_, changed, err = CaptureHold(ctx, p.store, req.OrderID, p.now())
	return changed, err
}

// Capture implements checkout.PaymentProvider: a wallet payment is
// settled when authorized.
func (p *Payments) Capture(ctx context.Context, authID string) error {
	if strings.HasPrefix(authID, walletAuth) {
		return nil
	}
	return p.card.Capture(ctx, authID)
}

// Refund implements checkout.PaymentProvider. authID is an authorization
// id or an order id (the seller's refund names the order): an order paid
// from the wallet is credited back there, once; any other goes to the card.
func (p *Payments) Refund(ctx context.Context, authID string) error {
	order, wallet := strings.CutPrefix(authID, walletAuth)
	_, replayed, err := Refund(ctx, p.store, order, p.now())
	switch {
	case errors.Is(err, ErrNoSpend):
		if wallet {
			return nil // never spent: nothing to give back
		}
		return p.card.Refund(ctx, authID)
	case err != nil:
		return err
	}
	if !replayed {
		p.m.refunds.Inc()
		p.logger.Info("wallet refund", "order", order)
	}
	return nil
}
