package checkout

import (
	"context"
	"errors"
	"fmt"
)

// Payment holds of lottery entries: an entry paid from the wallet
// (pay=wallet, a PaymentHolder) holds its order's amount at entry, so a
// winner's money is there at the draw; an entry refused gives it back at
// once, and the draw gives back the holds of every entry that did not win
// (the winners' orders settle theirs when paid).

// holdEntry reserves entry en's payment (the price it was offered at for
// its units, as the draw's order charges it); held says a hold may now
// exist.
func (e *Edge) holdEntry(ctx context.Context, en Entry, def SKU) (held bool, err error) {
	if en.Pay == "" {
		return false, nil // a card entry: paid when drawn
	}
	price, currency := en.terms(def)
	return e.holdPayment(ctx, Order{ID: en.ID, Buyer: en.Buyer, TotalCents: price * int64(en.Qty), Currency: currency, Pay: en.Pay})
}

// settleEntryHold gives back the hold of entry id after enter answered
// o, done and err: when the entry was refused for good (the line full or
// closed, the drop not drawing), when it was drawn and did not win, or
// when the drop was open after all (the sale holds for itself). A store
// that did not answer may have taken the entry: the hold stays (the draw
// or the origin's reconciler gives it back).
func (e *Edge) settleEntryHold(id string, o Order, done bool, err error) {
	var ee *EntryError
	switch {
	case !done:
	case errors.As(err, &ee) && ee.Entry.Result == EntryInLine:
		return // in line: the draw settles it
	case err == nil:
		return // won: the order's payment settles it
	case errors.As(err, &ee):
	case ClassOf(err) == ClassUnavailable || ClassOf(err) == ClassInternal:
		return
	}
	h := e.pay.(PaymentHolder)
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.StoreTimeout)
	defer cancel()
	if rerr := h.Release(ctx, id); rerr != nil {
		e.logger.Warn("entry's payment hold not given back", "order", id, "err", rerr)
	}
}

// releaseEntryHolds gives back, at the draw, the payment holds of the
// entries that did not win. A hold not given back here (the origin
// stopped) is given back by the wallet's reconciler.
func (c *Control) releaseEntryHolds(ctx context.Context, entries []Entry) error {
	h, ok := c.pay.(PaymentHolder)
	if !ok {
		return nil
	}
	var errs []error
	for _, en := range entries {
		if en.Pay == "" || en.Result == EntryWon {
			continue
		}
		if err := h.Release(ctx, en.ID); err != nil {
			errs = append(errs, fmt.Errorf("entry %s: %w", en.ID, err))
		}
	}
	return errors.Join(errs...)
}
