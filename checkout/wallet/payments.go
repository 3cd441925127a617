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
// pay=wallet are paid from the buyer's balance (the spend is keyed by the
// order id, so a retried order never pays twice), others go to the card
// provider. Refunds of wallet payments go back to the wallet at once.
type Payments struct {
	card   checkout.PaymentProvider
	store  Store
	m      *Metrics
	now    func() time.Time
	logger *slog.Logger
}

var _ checkout.PaymentProvider = (*Payments)(nil)

// NewPayments pays wallet orders from store and the rest through card.
func NewPayments(card checkout.PaymentProvider, store Store, m *Metrics, now func() time.Time, logger *slog.Logger) *Payments {
	if now == nil {
		now = time.Now
	}
	return &Payments{card: card, store: store, m: m, now: now, logger: logger.With("component", "wallet")}
}

// Authorize implements checkout.PaymentProvider: a wallet order is spent
// from the balance right away (ErrPaymentDeclined when it is too low).
func (p *Payments) Authorize(ctx context.Context, req checkout.PaymentRequest) (string, error) {
	if req.Method != MethodWallet {
		return p.card.Authorize(ctx, req)
	}
	_, replayed, err := p.store.Apply(ctx, SpendMovement(req.OrderID, req.Buyer, req.AmountCents, req.Currency, p.now()))
	switch {
	case errors.Is(err, ErrInsufficient):
		p.m.spend("insufficient")
		return "", fmt.Errorf("order %s: %w: %w", req.OrderID, checkout.ErrPaymentDeclined, err)
	case err != nil:
		p.m.spend("error")
		return "", err
	case replayed:
		p.m.spend("replayed")
	default:
		p.m.spend("paid")
	}
	return walletAuth + req.OrderID, nil
}

// Capture implements checkout.PaymentProvider: a wallet spend is taken
// when authorized.
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
