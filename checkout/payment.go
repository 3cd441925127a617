package checkout

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// PaymentRequest is what is charged for one order.
type PaymentRequest struct {
	OrderID     string
	Buyer       string
	AmountCents int64
	Currency    string
	// Method is the order's payment method (Order.Pay): "" the card
	// provider, "wallet" the buyer's prepaid credit (checkout/wallet).
	Method string
}

// PaymentProvider authorizes, captures and refunds payments. Calls are
// idempotent by order id, so a retried call never charges twice.
type PaymentProvider interface {
	// Authorize reserves the amount; ErrPaymentDeclined when refused.
	Authorize(ctx context.Context, req PaymentRequest) (authID string, err error)
	// Capture takes the authorized amount.
	Capture(ctx context.Context, authID string) error
	// Refund gives a captured amount back.
	Refund(ctx context.Context, authID string) error
}

// TestProvider is the built-in payment provider for demo and tests: it
// accepts everything unless told to decline, and can be made slow.
type TestProvider struct {
	decline bool
	delay   time.Duration

	mu       sync.Mutex
	captured map[string]int64
	refunded map[string]int64
}

var _ PaymentProvider = (*TestProvider)(nil)

// NewTestProvider returns a test provider configured by cfg.
func NewTestProvider(cfg PaymentConfig) *TestProvider {
	return &TestProvider{decline: cfg.Decline, delay: cfg.Delay, captured: map[string]int64{}, refunded: map[string]int64{}}
}

func (p *TestProvider) wait(ctx context.Context) error {
	if p.delay <= 0 {
		return nil
	}
	t := time.NewTimer(p.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Authorize implements PaymentProvider; the authorization id is the order id.
func (p *TestProvider) Authorize(ctx context.Context, req PaymentRequest) (string, error) {
	if err := p.wait(ctx); err != nil {
		return "", err
	}
	if p.decline {
		return "", fmt.Errorf("order %s: %w", req.OrderID, ErrPaymentDeclined)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.captured[req.OrderID] = req.AmountCents
	return req.OrderID, nil
}

// Capture implements PaymentProvider.
func (p *TestProvider) Capture(ctx context.Context, authID string) error {
	return p.wait(ctx)
}

// Refund implements PaymentProvider.
func (p *TestProvider) Refund(_ context.Context, authID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refunded[authID] = p.captured[authID]
	return nil
}

// Refunded reports whether an order's payment was refunded.
func (p *TestProvider) Refunded(orderID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.refunded[orderID]
	return ok
}
