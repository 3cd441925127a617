package checkout

import (
	"context"
	"fmt"
	"time"
)

// The edge's side of an opening lottery: while a lottery drop is not open
// an order becomes an entry in the store (atomic there, idempotent by the
// order id), answered "in line"; after the draw the same order answers the
// entry's result: the won order, or sold out with a waitlist place.

// lottery returns the drop's lottery (nil: none).
func (ed *edgeDrop) lottery() *Lottery {
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return ed.d.Lottery
}

// enterLottery takes req, offered at price in currency (this edge's
// terms), as an entry when the store's drop is drawing, or
// answers the entry recorded before. done is false when the drop is open
// after all (this edge's view was late): the caller sells as usual.
func (e *Edge) enterLottery(ctx context.Context, req OrderRequest, id string, def SKU, price int64, currency string,
	lims []Limit, eo *edgeOrder) (o Order, done bool, err error) {
	en := Entry{ID: id, Drop: req.Drop, SKU: req.SKU, Qty: req.Qty, Buyer: req.Buyer, Limits: limitKeys(lims),
		Edge: e.id, At: time.Now().UTC(), Pay: req.Pay, Fulfilment: req.Fulfilment, PriceCents: price, Currency: currency}
	held, err := e.holdEntry(ctx, en, def) // lottery_hold.go: refused up front, no entry
	if err != nil {
		return Order{}, true, err
	}
	o, done, err = e.enter(ctx, en, eo)
	if held {
		e.settleEntryHold(id, o, done, err)
	}
	return o, done, err
}

// enter records en in the store, or answers the entry recorded before.
func (e *Edge) enter(ctx context.Context, en Entry, eo *edgeOrder) (o Order, done bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	res, err := e.store.Enter(cctx, en, e.cfg.LotteryMaxEntries)
	if err != nil {
		if ClassOf(err) == ClassInternal {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return Order{}, true, fmt.Errorf("enter the opening lottery: %w", err)
	}
	switch res.Outcome {
	case EnterNew, EnterExists:
		o, err := e.entryAnswer(ctx, res.Entry, eo, res.Lottery)
		return o, true, err
	case EnterFull:
		return Order{}, true, fmt.Errorf("the line for this drop is full: %w", ErrSoldOut)
	case EnterClosed:
		return Order{}, true, ErrDrawing
	}
	if res.State == StateOpen {
		return Order{}, false, nil
	}
	return Order{}, true, fmt.Errorf("drop %s: %w", en.Drop, ErrNotOpen)
}

// entryAnswer answers an order that is entry en: its order when it won
// (its payment starts here), else an *EntryError with the lottery's public
// record: known when the store gave it with the entry, else read (and an
// answer without the seed hash when that read fails).
func (e *Edge) entryAnswer(ctx context.Context, en Entry, eo *edgeOrder, known LotteryInfo) (Order, error) {
	if en.Result == EntryWon {
		o, found, err := e.storedOrder(ctx, en.Order)
		if err != nil {
			return Order{}, err
		}
		if !found {
			return Order{}, fmt.Errorf("won order %s not found: %w", en.Order, ErrUnavailable)
		}
		if eo != nil {
			e.book.update(eo, func(eo *edgeOrder) { eo.shipped = true })
		}
		if o.Status == StatusPending {
			e.enqueuePayment(o)
		}
		return o, nil
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	en = e.closedEntry(cctx, en)
	info := known
	if info.SeedHash == "" {
		if got, err := lotteryOf(cctx, e.store, en.Drop); err == nil && got != nil {
			info = *got
		}
	}
	return Order{}, entryError(en, info)
}

// closedEntry gives an entry still in line the result EntryClosed when its
// drop was closed during the window: no draw will run, and the buyer is
// told so instead of reading "in line" forever. A store that does not
// answer leaves it in line (the next read tells).
func (e *Edge) closedEntry(ctx context.Context, en Entry) Entry {
	if en.Result != EntryInLine {
		return en
	}
	if d, err := e.store.Drop(ctx, en.Drop); err == nil && d.State == StateClosed {
		en.Result = EntryClosed
	}
	return en
}

// lotteryRefusal turns a refusal (sold out, limit, held by another edge)
// of an order of a lottery drop into its entry's answer when the order was
// an entry: a retry after the draw gets the same answer as the draw gave,
// through any edge. A held refusal is one too: a loser retrying through a
// second edge finds its limit's allowance at the first one, and would be
// told "try again shortly" for an answer the draw already gave.
func (e *Edge) lotteryRefusal(ctx context.Context, req OrderRequest, id string, err error) (Order, error) {
	if c := ClassOf(err); c != ClassSoldOut && c != ClassLimit && c != ClassHeld {
		return Order{}, err
	}
	if ed, derr := e.dropFor(ctx, req.Drop); derr != nil || ed.lottery() == nil {
		return Order{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	en, lerr := e.store.Entry(cctx, req.Drop, id)
	cancel()
	if lerr != nil {
		return Order{}, err
	}
	return e.entryAnswer(ctx, en, nil, LotteryInfo{})
}

// EntryStatus is a lottery entry as its buyer sees it.
type EntryStatus struct {
	Entry Entry
	// Order is the won order (nil otherwise).
	Order   *Order
	Lottery LotteryInfo
}

// Entry reads buyer's own entry id of drop: another buyer's entry is
// answered like an unknown one.
func (e *Edge) Entry(ctx context.Context, buyer, drop, id string) (EntryStatus, error) {
	if !ValidBuyer(buyer) || !ValidID(drop) {
		return EntryStatus{}, fmt.Errorf("%w: buyer or drop malformed", ErrInvalid)
	}
	if d, ok := DropOfOrder(id); !ok || d != drop {
		return EntryStatus{}, fmt.Errorf("entry %q: %w", id, ErrNotFound)
	}
	cctx, cancel := context.WithTimeout(ctx, e.cfg.StoreTimeout)
	defer cancel()
	en, err := e.store.Entry(cctx, drop, id)
	if err != nil {
		return EntryStatus{}, err
	}
	if en.Buyer != buyer {
		return EntryStatus{}, fmt.Errorf("entry %q: %w", id, ErrNotFound)
	}
	st := EntryStatus{Entry: e.closedEntry(cctx, en)}
	if info, err := lotteryOf(cctx, e.store, drop); err == nil && info != nil {
		st.Lottery = *info
	}
	if en.Result == EntryWon {
		// Its payment starts here (providers are idempotent by order id).
		o, err := e.entryAnswer(ctx, en, nil, LotteryInfo{})
		if err != nil {
			return EntryStatus{}, err
		}
		st.Order = &o
	}
	return st, nil
}
