package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// MaxStatementEntries is how many recent entries a statement shows.
const MaxStatementEntries = 20

// Wallets runs buyers' wallets at an edge: top-ups charged through the
// payment provider and credited to the store, and statements.
type Wallets struct {
	store    Store
	provider checkout.PaymentProvider
	m        *Metrics
	now      func() time.Time
}

// NewWallets charges top-ups through provider and keeps them in store.
func NewWallets(store Store, provider checkout.PaymentProvider, m *Metrics, now func() time.Time) *Wallets {
	if now == nil {
		now = time.Now
	}
	return &Wallets{store: store, provider: provider, m: m, now: now}
}

// TopUp charges amount to buyer through the provider and credits it to the
// wallet, once per idempotency key: a retry returns the first top-up and
// charges nothing more.
func (w *Wallets) TopUp(ctx context.Context, buyer, idem string, cents int64, currency string) (Entry, error) {
	if !checkout.ValidIdempotencyKey(idem) {
		return Entry{}, fmt.Errorf("%w: Idempotency-Key must be 1-%d printable ASCII characters", checkout.ErrInvalid, checkout.MaxKeyLen)
	}
	if cents < 1 || cents > MaxTopUpCents {
		return Entry{}, fmt.Errorf("%w: amount_cents must be 1-%d", checkout.ErrInvalid, MaxTopUpCents)
	}
	m := Movement{Key: topUpKey(buyer, idem), Kind: KindTopUp, Buyer: buyer, AmountCents: cents, Currency: currency, At: w.now()}
	if err := m.Validate(); err != nil {
		return Entry{}, err
	}
	if e, found, err := w.store.Entry(ctx, m.Key); err != nil {
		return Entry{}, err
	} else if found {
		if !e.same(m) {
			return Entry{}, ErrKeyReused
		}
		return e, nil
	}
	// The provider is idempotent by this id too: a retry after a failed
	// credit charges once.
	sum := sha256.Sum256([]byte(m.Key))
	req := checkout.PaymentRequest{OrderID: "topup-" + hex.EncodeToString(sum[:12]), Buyer: buyer, AmountCents: cents, Currency: currency}
	auth, err := w.provider.Authorize(ctx, req)
	if err == nil {
		err = w.provider.Capture(ctx, auth)
	}
	if err != nil {
		w.m.topUp("declined", 0, currency)
		return Entry{}, fmt.Errorf("top-up: %w", err)
	}
	e, replayed, err := w.store.Apply(ctx, m)
	if err != nil {
		w.m.topUp("error", 0, currency)
		return Entry{}, err
	}
	if !replayed {
		w.m.topUp("ok", cents, currency)
	}
	return e, nil
}

// Statement is buyer's wallet: balances and recent entries.
func (w *Wallets) Statement(ctx context.Context, buyer string) (Statement, error) {
	if !checkout.ValidBuyer(buyer) {
		return Statement{}, fmt.Errorf("%w: buyer", checkout.ErrInvalid)
	}
	return w.store.Statement(ctx, buyer, MaxStatementEntries)
}

// RefusedGuest counts a guest session refused its wallet.
func (w *Wallets) RefusedGuest() { w.m.refuse("email_required") }
