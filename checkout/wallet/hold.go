package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Hold states of an order's wallet hold.
const (
	HoldHeld     = "held"     // reserved: buyer:ID -> buyer_hold:ID
	HoldCaptured = "captured" // settled: buyer_hold:ID -> seller:sales
	HoldReleased = "released" // given back: buyer_hold:ID -> buyer:ID
)

// ErrNoHold says an order has no wallet hold to settle.
var ErrNoHold = fmt.Errorf("no wallet hold for this order: %w", ErrNoSpend)

// HoldRecord is an order's wallet hold, kept beside the ledger: one per
// order id, so a retry of the order through any edge holds once. A
// released hold may be held again (N counts the holds, and names their
// ledger entries).
type HoldRecord struct {
	State       string `json:"state"`
	N           int    `json:"n"`
	Buyer       string `json:"buyer"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	// At is when it was held last.
	At time.Time `json:"at"`
	// Bid marks the hold of an auction bid: the closer settles it when
	// the lot ends, not the reconciler.
	Bid bool `json:"bid,omitempty"`
}

func (r HoldRecord) encode() string {
	b, _ := json.Marshal(r)
	return string(b)
}

func decodeHold(s string) (HoldRecord, error) {
	if s == "" {
		return HoldRecord{}, nil
	}
	var r HoldRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return HoldRecord{}, fmt.Errorf("wallet: decode hold: %w", err)
	}
	return r, nil
}

// holdAttempts bounds how often a hold change is tried again when the
// record changed under it (two edges racing on one order id).
const holdAttempts = 8

// change applies the movement f makes of the order's current hold record
// (nil: nothing to do), again while the record changes under it.
func change(ctx context.Context, s Store, order string, f func(cur HoldRecord) *Movement) (HoldRecord, bool, error) {
	for range holdAttempts {
		raw, err := s.HoldOf(ctx, order)
		if err != nil {
			return HoldRecord{}, false, err
		}
		cur, err := decodeHold(raw)
		if err != nil {
			return HoldRecord{}, false, err
		}
		m := f(cur)
		if m == nil {
			return cur, false, nil
		}
		m.Hold.Expect = raw
		_, replayed, err := s.Apply(ctx, *m)
		if errors.Is(err, ErrHoldChanged) || (err == nil && replayed) {
			continue // another call changed it first: read what it made
		}
		if err != nil {
			return HoldRecord{}, false, err
		}
		next, err := decodeHold(m.Hold.Next)
		return next, true, err
	}
	return HoldRecord{}, false, fmt.Errorf("order %s: %w", order, ErrHoldChanged)
}

func holdMove(kind Kind, key, order string, r HoldRecord, next HoldRecord, at time.Time) *Movement {
	return &Movement{Key: key, Kind: kind, Buyer: r.Buyer, AmountCents: r.AmountCents, Currency: r.Currency, Order: order, At: at,
		Hold: &HoldChange{Next: next.encode()}}
}

// HoldFor reserves cents of buyer's balance for order: once per order id
// (a hold or capture there already is answered as it is; changed is
// false), ErrInsufficient when the balance is too low (nothing changes),
// ErrKeyReused when the order is held for another amount.
func HoldFor(ctx context.Context, s Store, order, buyer string, cents int64, currency string, at time.Time) (r HoldRecord, changed bool, err error) {
	want := HoldRecord{State: HoldHeld, Buyer: buyer, AmountCents: cents, Currency: currency, At: at.UTC()}
	if err := (Movement{Key: "hold:" + order, Kind: KindHold, Buyer: buyer, AmountCents: cents, Currency: currency, Order: order,
		Hold: &HoldChange{}}).Validate(); err != nil {
		return HoldRecord{}, false, err
	}
	var reused bool
	r, changed, err = change(ctx, s, order, func(cur HoldRecord) *Movement {
		if cur.State == HoldHeld || cur.State == HoldCaptured {
			reused = cur.Buyer != buyer || cur.AmountCents != cents || cur.Currency != currency
			return nil
		}
		next := want
		next.N = cur.N + 1
		return holdMove(KindHold, "hold:"+order+":"+strconv.Itoa(next.N), order, next, next, at)
	})
	if err == nil && reused {
		return r, false, ErrKeyReused
	}
	return r, changed, err
}

// CaptureHold settles order's hold to the seller (once: a captured hold
// is answered as it is); ErrNoHold when it is not held.
func CaptureHold(ctx context.Context, s Store, order string, at time.Time) (HoldRecord, bool, error) {
	var none bool
	r, changed, err := change(ctx, s, order, func(cur HoldRecord) *Movement {
		switch cur.State {
		case HoldCaptured:
			return nil
		case HoldHeld:
			next := cur
			next.State = HoldCaptured
			return holdMove(KindCapture, "capture:"+order, order, cur, next, at)
		}
		none = true
		return nil
	})
	if err == nil && none {
		return r, false, ErrNoHold
	}
	return r, changed, err
}

// ReleaseHold gives order's hold back to the buyer's balance if it is
// held; a hold captured or released (or none) is left as it is.
func ReleaseHold(ctx context.Context, s Store, order string, at time.Time) (HoldRecord, bool, error) {
	return change(ctx, s, order, func(cur HoldRecord) *Movement {
		if cur.State != HoldHeld {
			return nil
		}
		next := cur
		next.State = HoldReleased
		return holdMove(KindRelease, "release:"+order+":"+strconv.Itoa(cur.N), order, cur, next, at)
	})
}

// RaiseHold makes order's hold at least cents (a bid raised): a hold
// not taken (or released) is taken, a smaller one grows by the
// difference, a larger one is left as it is. ErrInsufficient when the
// balance does not cover the difference (nothing changes); a settled hold
// is ErrKeyReused.
func RaiseHold(ctx context.Context, s Store, order, buyer string, cents int64, currency string, at time.Time) (HoldRecord, bool, error) {
	return raiseHold(ctx, s, order, buyer, cents, currency, at, false)
}

func raiseHold(ctx context.Context, s Store, order, buyer string, cents int64, currency string, at time.Time, bid bool) (HoldRecord, bool, error) {
	var settled bool
	r, changed, err := change(ctx, s, order, func(cur HoldRecord) *Movement {
		switch {
		case cur.State == HoldCaptured || (cur.State == HoldHeld && (cur.Buyer != buyer || cur.Currency != currency)):
			settled = true
			return nil
		case cur.State == HoldHeld && cur.AmountCents >= cents:
			return nil
		case cur.State == HoldHeld:
			next := cur
			next.AmountCents, next.At = cents, at.UTC()
			m := holdMove(KindHold, "hold:"+order+":"+strconv.Itoa(cur.N)+":"+strconv.FormatInt(cents, 10), order, cur, next, at)
			m.AmountCents = cents - cur.AmountCents
			return m
		}
		next := HoldRecord{State: HoldHeld, N: cur.N + 1, Buyer: buyer, AmountCents: cents, Currency: currency, At: at.UTC(), Bid: bid || cur.Bid}
		return holdMove(KindHold, "hold:"+order+":"+strconv.Itoa(next.N), order, next, next, at)
	})
	if err == nil && settled {
		return r, false, ErrKeyReused
	}
	return r, changed, err
}

// LowerHold gives back what order's hold holds over cents (a bid won for
// less than its maximum); a hold of cents or less is left as it is.
func LowerHold(ctx context.Context, s Store, order string, cents int64, at time.Time) (HoldRecord, bool, error) {
	return change(ctx, s, order, func(cur HoldRecord) *Movement {
		if cur.State != HoldHeld || cur.AmountCents <= cents || cents < 1 {
			return nil
		}
		next := cur
		next.AmountCents = cents
		m := holdMove(KindRelease, "release:"+order+":"+strconv.Itoa(cur.N)+":"+strconv.FormatInt(cents, 10), order, cur, next, at)
		m.AmountCents = cur.AmountCents - cents
		return m
	})
}

// undoRaise takes order's hold from cents back to before (0: released),
// if it still holds cents: a refused bid gives back what it raised.
func undoRaise(ctx context.Context, s Store, order string, cents, before int64, at time.Time) error {
	_, _, err := change(ctx, s, order, func(cur HoldRecord) *Movement {
		if cur.State != HoldHeld || cur.AmountCents != cents || before >= cents {
			return nil
		}
		next := cur
		if before <= 0 {
			next.State = HoldReleased
			return holdMove(KindRelease, "release:"+order+":"+strconv.Itoa(cur.N), order, cur, next, at)
		}
		next.AmountCents = before
		m := holdMove(KindRelease, "release:"+order+":"+strconv.Itoa(cur.N)+":"+strconv.FormatInt(before, 10), order, cur, next, at)
		m.AmountCents = cents - before
		return m
	})
	return err
}
