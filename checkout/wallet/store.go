package wallet

import (
	"context"
	"time"
)

// Store keeps balances and the ledger. RedisStore and MemStore implement it
// with the same semantics; each call is atomic.
type Store interface {
	// Apply applies m once: it writes the ledger entry and moves the
	// balances, refusing (ErrInsufficient, nothing changed) a movement
	// that would take a buyer account below zero. A key applied before
	// returns its entry with replayed set (ErrKeyReused if m differs).
	Apply(ctx context.Context, m Movement) (e Entry, replayed bool, err error)
	// Entry reads the movement applied under key, if any.
	Entry(ctx context.Context, key string) (e Entry, found bool, err error)
	// Statement reads buyer's balances and last n entries, newest first.
	Statement(ctx context.Context, buyer string, n int) (Statement, error)
	// Liability sums the buyers' balances per currency: what the seller
	// owes buyers in prepaid credit.
	Liability(ctx context.Context) (map[string]int64, error)
	// Balances reads every account's balance per currency.
	Balances(ctx context.Context) (map[string]map[string]int64, error)
	// Ledger reads every entry in the order applied (audits and tests).
	Ledger(ctx context.Context) ([]Entry, error)
	// HoldOf reads order's hold record as Apply compares it ("" none).
	HoldOf(ctx context.Context, order string) (string, error)
	// OpenHolds lists up to n orders whose hold is still held and was
	// taken before before, oldest first (the reconciler's work).
	OpenHolds(ctx context.Context, before time.Time, n int) ([]string, error)
}

// Refund gives back order's wallet payment once: a captured hold (or a
// spend) is credited back to the balance, a hold not settled yet is
// released (ErrNoSpend when the order was not paid from the wallet).
func Refund(ctx context.Context, s Store, order string, at time.Time) (Entry, bool, error) {
	for _, key := range []string{"capture:" + order, spendKey(order)} {
		sp, found, err := s.Entry(ctx, key)
		if err != nil {
			return Entry{}, false, err
		}
		if found {
			return s.Apply(ctx, refundOf(sp, at))
		}
	}
	r, changed, err := ReleaseHold(ctx, s, order, at)
	switch {
	case err != nil:
		return Entry{}, false, err
	case r.State == HoldCaptured: // captured meanwhile: give that back
		return Refund(ctx, s, order, at)
	case r.State == HoldReleased:
		return Entry{Kind: KindRelease, Buyer: r.Buyer, AmountCents: r.AmountCents, Currency: r.Currency, Order: order}, !changed, nil
	}
	return Entry{}, false, ErrNoSpend
}
