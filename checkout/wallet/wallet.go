package wallet

import (
	"fmt"
	"strings"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// Kind is what a movement does.
type Kind string

// Movement kinds.
const (
	KindTopUp  Kind = "topup"  // provider:cash -> buyer:ID
	KindSpend  Kind = "spend"  // buyer:ID -> seller:sales
	KindRefund Kind = "refund" // seller:sales -> buyer:ID
	// An order paid from the wallet reserves its amount before it is
	// accepted (hold), then settles it (capture) or gives it back (release).
	KindHold    Kind = "hold"    // buyer:ID -> buyer_hold:ID
	KindCapture Kind = "capture" // buyer_hold:ID -> seller:sales
	KindRelease Kind = "release" // buyer_hold:ID -> buyer:ID
)

// The accounts other than buyers'.
const (
	AccountProvider = "provider:cash"
	AccountSales    = "seller:sales"
)

// MaxTopUpCents bounds one top-up (in minor units).
const MaxTopUpCents = 1_000_000

// MaxAmountCents bounds any one movement.
const MaxAmountCents = 1 << 40

// ShortError is ErrInsufficient with the balance the refused movement
// found, read in the same atomic step (a balance read afterwards can
// already hold money another order's released hold gave back).
type ShortError struct{ BalanceCents int64 }

func (e *ShortError) Error() string { return ErrInsufficient.Error() }

// Unwrap gives ErrInsufficient.
func (e *ShortError) Unwrap() error { return ErrInsufficient }

// Errors of the wallet; each wraps a checkout error class so adapters map
// them like the rest of checkout.
var (
	// ErrInsufficient refuses a spend the balance does not cover.
	ErrInsufficient = fmt.Errorf("wallet balance too low: %w", checkout.ErrConflict)
	// ErrNoSpend says an order was not paid from the wallet.
	ErrNoSpend = fmt.Errorf("no wallet payment for this order: %w", checkout.ErrNotFound)
	// ErrHoldChanged refuses a hold movement whose order's hold record
	// changed since it was read (the caller reads it again).
	ErrHoldChanged = fmt.Errorf("the order's wallet hold changed: %w", checkout.ErrConflict)
	// ErrKeyReused refuses a movement whose key names another one.
	ErrKeyReused = fmt.Errorf("idempotency key used for another movement: %w", checkout.ErrConflict)
)

// BuyerAccount is the account of buyer id.
func BuyerAccount(id string) string { return "buyer:" + id }

// HoldAccount is the account of buyer id's held money: reserved for
// orders accepted and not settled yet, still the buyer's.
func HoldAccount(id string) string { return "buyer_hold:" + id }

// Movement is one money movement asked of the store.
type Movement struct {
	// Key makes the movement idempotent: the same key is applied once.
	Key         string
	Kind        Kind
	Buyer       string
	AmountCents int64
	Currency    string
	// Order is the order a spend pays or a refund gives back.
	Order string
	At    time.Time
	// Hold, on hold, capture and release movements, is the change of the
	// order's hold record the movement makes: applied only if the record
	// is still Expect, atomically with the entry (ErrHoldChanged if not).
	Hold *HoldChange
}

// HoldChange moves an order's hold record from Expect ("" none) to Next.
type HoldChange struct {
	Expect, Next string
}

// Entry is one ledger entry: a movement as applied, debit and credit named.
type Entry struct {
	Seq         int64     `json:"seq"`
	Key         string    `json:"key"`
	Kind        Kind      `json:"kind"`
	Debit       string    `json:"debit"`
	Credit      string    `json:"credit"`
	AmountCents int64     `json:"amount_cents"`
	Currency    string    `json:"currency"`
	Buyer       string    `json:"buyer"`
	Order       string    `json:"order,omitempty"`
	At          time.Time `json:"at"`
}

// Statement is a buyer's wallet: balance per currency and recent entries,
// newest first.
type Statement struct {
	Buyer    string           `json:"buyer"`
	Balances map[string]int64 `json:"balances"`
	Entries  []Entry          `json:"entries"`
	// Held is the money reserved for orders not settled yet, per currency
	// (not in Balances: it cannot be spent twice).
	Held map[string]int64 `json:"held,omitempty"`
}

// accounts returns the debit and credit accounts of m.
func (m Movement) accounts() (debit, credit string) {
	switch m.Kind {
	case KindTopUp:
		return AccountProvider, BuyerAccount(m.Buyer)
	case KindSpend:
		return BuyerAccount(m.Buyer), AccountSales
	case KindHold:
		return BuyerAccount(m.Buyer), HoldAccount(m.Buyer)
	case KindCapture:
		return HoldAccount(m.Buyer), AccountSales
	case KindRelease:
		return HoldAccount(m.Buyer), BuyerAccount(m.Buyer)
	default:
		return AccountSales, BuyerAccount(m.Buyer)
	}
}

// entry is m applied as ledger entry seq.
func (m Movement) entry(seq int64) Entry {
	d, c := m.accounts()
	return Entry{Seq: seq, Key: m.Key, Kind: m.Kind, Debit: d, Credit: c, AmountCents: m.AmountCents,
		Currency: m.Currency, Buyer: m.Buyer, Order: m.Order, At: m.At.UTC()}
}

// same reports whether e is the entry of m (a replay, not a reused key).
func (e Entry) same(m Movement) bool {
	return e.Kind == m.Kind && e.Buyer == m.Buyer && e.AmountCents == m.AmountCents && e.Currency == m.Currency && e.Order == m.Order
}

// Validate checks the movement's fields.
func (m Movement) Validate() error {
	switch {
	case m.Key == "" || len(m.Key) > 2*checkout.MaxKeyLen+2*checkout.MaxIDLen:
		return fmt.Errorf("%w: movement key must be 1-%d characters", checkout.ErrInvalid, 2*checkout.MaxKeyLen+2*checkout.MaxIDLen)
	case m.Kind != KindTopUp && m.Kind != KindSpend && m.Kind != KindRefund && m.Kind != KindHold && m.Kind != KindCapture && m.Kind != KindRelease:
		return fmt.Errorf("%w: movement kind %q", checkout.ErrInvalid, m.Kind)
	case (m.Hold != nil) != (m.Kind == KindHold || m.Kind == KindCapture || m.Kind == KindRelease) || (m.Hold != nil && m.Order == ""):
		return fmt.Errorf("%w: hold movements (and only they) change an order's hold record", checkout.ErrInvalid)
	case !checkout.ValidBuyer(m.Buyer):
		return fmt.Errorf("%w: buyer must be 1-%d of [A-Za-z0-9_.:@-]", checkout.ErrInvalid, checkout.MaxIDLen)
	case m.AmountCents < 1 || m.AmountCents > MaxAmountCents:
		return fmt.Errorf("%w: amount_cents must be 1-%d", checkout.ErrInvalid, int64(MaxAmountCents))
	case !ValidCurrency(m.Currency):
		return fmt.Errorf("%w: currency must be 3 capital letters (ISO 4217)", checkout.ErrInvalid)
	}
	return nil
}

// ValidCurrency reports whether c looks like an ISO 4217 code.
func ValidCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// Keys of movements: one spend and one refund per order, one top-up per
// buyer's idempotency key.
func spendKey(order string) string       { return "spend:" + order }
func refundKey(order string) string      { return "refund:" + order }
func topUpKey(buyer, idem string) string { return "topup:" + buyer + ":" + idem }
func isBuyerAccount(account string) bool { return strings.HasPrefix(account, "buyer:") }

// isOwedAccount reports whether account's money is the buyer's (the
// liability): the balance and the held money.
func isOwedAccount(account string) bool {
	return isBuyerAccount(account) || strings.HasPrefix(account, "buyer_hold:")
}
func balanceField(account, cur string) string { return account + "|" + cur }

// SpendMovement is the movement that pays order from buyer's wallet.
func SpendMovement(order, buyer string, cents int64, currency string, at time.Time) Movement {
	return Movement{Key: spendKey(order), Kind: KindSpend, Buyer: buyer, AmountCents: cents, Currency: currency, Order: order, At: at}
}

// refundOf is the movement that gives spend back.
func refundOf(spend Entry, at time.Time) Movement {
	return Movement{Key: refundKey(spend.Order), Kind: KindRefund, Buyer: spend.Buyer, AmountCents: spend.AmountCents,
		Currency: spend.Currency, Order: spend.Order, At: at}
}

// Sums folds entries into account balances: credits minus debits, per
// account and currency. It is what the balances must equal.
func Sums(entries []Entry) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	add := func(acct, cur string, v int64) {
		if out[acct] == nil {
			out[acct] = map[string]int64{}
		}
		out[acct][cur] += v
	}
	for _, e := range entries {
		add(e.Debit, e.Currency, -e.AmountCents)
		add(e.Credit, e.Currency, e.AmountCents)
	}
	return out
}

// Money formats cents of currency for people: "25.00 EUR" (no decimals
// for the currencies that have none).
func Money(cents int64, currency string) string {
	switch currency {
	case "JPY", "KRW", "CLP", "ISK", "VND":
		return fmt.Sprintf("%d %s", cents, currency)
	}
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, cents/100, cents%100, currency)
}
