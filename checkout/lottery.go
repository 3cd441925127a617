package checkout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// The opening lottery's rules, shared by the control side (the draw), the
// edge (entries) and both stores: a drop with opens_at and a lottery goes to
// state drawing at opens_at; every order asked in the window is an entry;
// at the window's end the entries are ranked by sha256(seed || entry id),
// sold in that order while stock lasts, and the seed, whose hash was
// published at opens_at, is revealed so anyone can check the order.

// StateDrawing is a lottery drop between opens_at and the end of its draw:
// edges neither lease nor sell; orders become entries.
const StateDrawing = "drawing"

// Lottery bounds.
const (
	DefaultLotteryWindowMs = 2000
	MinLotteryWindowMs     = 100
	MaxLotteryWindowMs     = 10 * 60 * 1000
	MaxLotteryEntries      = 10_000_000
)

// Lottery makes a drop's opening a draw instead of first-packet-wins.
type Lottery struct {
	// WindowMs is how long after opens_at orders are taken as entries
	// (0: DefaultLotteryWindowMs).
	WindowMs int `json:"window_ms,omitempty"`
}

// Window is the entry window (the default when unset).
func (l Lottery) Window() time.Duration {
	if l.WindowMs == 0 {
		return DefaultLotteryWindowMs * time.Millisecond
	}
	return time.Duration(l.WindowMs) * time.Millisecond
}

// validateOpening checks opens_at and lottery of a drop definition.
func (d *Drop) validateOpening() error {
	if !d.OpensAt.IsZero() && (d.OpensAt.Year() < 2000 || d.OpensAt.Year() > 9999) {
		return fmt.Errorf("%w: opens_at must be an RFC 3339 time between the years 2000 and 9999", ErrInvalid)
	}
	if d.Lottery == nil {
		return nil
	}
	if d.OpensAt.IsZero() {
		return fmt.Errorf("%w: lottery needs opens_at (the draw's window starts then)", ErrInvalid)
	}
	if w := d.Lottery.WindowMs; w != 0 && (w < MinLotteryWindowMs || w > MaxLotteryWindowMs) {
		return fmt.Errorf("%w: lottery.window_ms must be %d-%d (0 = %d)", ErrInvalid, MinLotteryWindowMs, MaxLotteryWindowMs, DefaultLotteryWindowMs)
	}
	return nil
}

// LotteryEdge is the Edge of the orders a draw sells (no edge sold them).
const LotteryEdge = "lottery"

// Entry results.
const (
	EntryInLine = ""      // not drawn yet
	EntryWon    = "won"   // sold: Order names the order
	EntryLost   = "lost"  // sold out before its turn: Place on the waitlist
	EntryLimit  = "limit" // its turn came, but a purchase limit refused it
	// EntryClosed: the seller closed the drop during its window, so no draw
	// ran; told to the entry on reading (never stored).
	EntryClosed = "closed"
)

// Entry is one order asked for in a lottery's window. Its id is the order's
// (OrderID of drop, buyer and idempotency key): a retry through any edge
// names the same entry, and a winner's order has that id.
type Entry struct {
	ID    string `json:"id"`
	Drop  string `json:"drop"`
	SKU   string `json:"sku"`
	Qty   int    `json:"qty"`
	Buyer string `json:"buyer"`
	// Limits are the limit keys (LimitKey) the order will count against;
	// the draw checks them with the SKU's maxima.
	Limits []string  `json:"limits,omitempty"`
	Edge   string    `json:"edge"`
	At     time.Time `json:"at"`
	// Result, Order and Place are written by the draw.
	Result string `json:"result,omitempty"`
	Order  string `json:"order,omitempty"`
	Place  int    `json:"waitlist_place,omitempty"`
	// Pay is the entry's payment method (OrderRequest.Pay), its order's.
	Pay string `json:"pay,omitempty"`
	// Fulfilment is the entry's (OrderRequest.Fulfilment), its order's: a
	// won entry asking for pickup is a pickup order, with its code.
	Fulfilment string `json:"fulfilment,omitempty"`
	// PriceCents and Currency are the unit price the entry was offered at
	// its edge (its region's price, or the member price), its order's
	// when drawn; an entry recorded without them pays the SKU's price.
	PriceCents int64  `json:"price_cents,omitempty"`
	Currency   string `json:"currency,omitempty"`
}

// terms is the unit price and currency entry e's order is charged: those
// it was offered at, else def's.
func (e *Entry) terms(def SKU) (int64, string) {
	if e.Currency != "" {
		return e.PriceCents, e.Currency
	}
	return def.PriceCents, def.Currency
}

// EnterOutcome says what Store.Enter did.
type EnterOutcome string

// Enter outcomes.
const (
	EnterNew    EnterOutcome = "entered"  // recorded now
	EnterExists EnterOutcome = "exists"   // recorded before (the entry is returned as stored)
	EnterFull   EnterOutcome = "full"     // the line holds the most entries a drop may
	EnterClosed EnterOutcome = "closed"   // drawing, but the window has closed: the draw is running
	EnterNot    EnterOutcome = "notdrawn" // the drop is not drawing and has no such entry (State says what it is)
)

// EnterResult is the answer to Store.Enter.
type EnterResult struct {
	Outcome EnterOutcome
	Entry   Entry
	// State is the drop's state when Outcome is EnterNot.
	State string
	// Lottery is the lottery's public record as the entry was taken or
	// found (seed hash, start and window; never the seed): the answer "in
	// line" needs no second read.
	Lottery LotteryInfo
}

// LotteryInfo is a lottery's public record (the seed only once revealed).
type LotteryInfo struct {
	OpensAt  time.Time `json:"opens_at"`
	WindowMs int       `json:"window_ms"`
	// StartedAt is when the window opened (zero before opens_at).
	StartedAt time.Time `json:"started_at,omitzero"`
	// SeedHash is hex(sha256(seed)), published when the window opens.
	SeedHash string `json:"seed_hash,omitempty"`
	// Seed is the hex seed, revealed after the draw.
	Seed    string `json:"seed,omitempty"`
	Entries int    `json:"entries"`
	// Closed: the window has closed (no more entries); Drawn: results are
	// recorded and the seed revealed.
	Closed bool `json:"closed,omitempty"`
	Drawn  bool `json:"drawn,omitempty"`
}

// LotteryStore is the part of a Store that keeps lotteries: each call is
// atomic, and every key is the drop's (one hash tag).
type LotteryStore interface {
	// StartLottery moves a created drop to drawing and keeps seed (secret
	// until FinishLottery) with its hash; a drop already drawing keeps the
	// seed it has. It returns the lottery as stored, seed included.
	StartLottery(ctx context.Context, drop string, seed []byte, at time.Time) (LotteryInfo, error)
	// Enter records e while the drop is drawing and the window is open,
	// idempotently by e.ID, at most maxEntries per drop; an entry that
	// exists is returned as stored whatever the state.
	Enter(ctx context.Context, e Entry, maxEntries int) (EnterResult, error)
	// Entry reads one entry (ErrNotFound).
	Entry(ctx context.Context, drop, id string) (Entry, error)
	// CloseEntries ends the window: Enter answers EnterClosed from then on.
	CloseEntries(ctx context.Context, drop string) error
	// Entries lists all entries of the drop (bounded by maxEntries).
	Entries(ctx context.Context, drop string) ([]Entry, error)
	// Award sells winners in order, like SellDirect but in state drawing
	// (idempotent by order id: a rerun answers exists for those it sold).
	Award(ctx context.Context, items []ShipItem) ([]ShipResult, error)
	// SetResults writes the draw's results of entries (rewriting the same
	// results is harmless).
	SetResults(ctx context.Context, drop string, entries []Entry) error
	// FinishLottery reveals the seed and moves the drop from drawing to open.
	FinishLottery(ctx context.Context, drop string) error
	// Lottery reads the lottery (seed included, whether revealed or not:
	// callers publish it only when Drawn); ErrNotFound before it started.
	Lottery(ctx context.Context, drop string) (LotteryInfo, error)
}

// SeedHash is hex(sha256(seed)), the commitment published before the draw.
func SeedHash(seed []byte) string {
	h := sha256.Sum256(seed)
	return hex.EncodeToString(h[:])
}

// entryRank is an entry's place in the draw: sha256(seed || id).
func entryRank(seed []byte, id string) [32]byte {
	h := sha256.New()
	h.Write(seed)
	h.Write([]byte(id))
	var r [32]byte
	h.Sum(r[:0])
	return r
}

// DrawOrder returns the entry ids in the order of the draw: ascending
// sha256(seed || id), ties (none in practice) by id. Anyone holding the
// revealed seed and the entry ids can recompute it.
func DrawOrder(seed []byte, ids []string) []string {
	type ranked struct {
		id string
		r  [32]byte
	}
	rs := make([]ranked, len(ids))
	for i, id := range ids {
		rs[i] = ranked{id, entryRank(seed, id)}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := bytes.Compare(a.r[:], b.r[:]); c != 0 {
			return c
		}
		return cmpString(a.id, b.id)
	})
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.id
	}
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ClassInLine: the order is an entry of a drop's opening lottery, waiting
// for the draw (not an error for the buyer: HTTP answers 202).
const ClassInLine Class = 100

// ErrInLine is the answer to an order taken as a lottery entry.
var ErrInLine = &classError{ClassInLine, "you are in line: the opening draw decides"}

// ErrDrawing answers an order that is neither an entry nor sellable yet:
// the window has closed and the draw is running.
var ErrDrawing = &classError{ClassHeld, "the opening draw is running: try again shortly"}

// EntryError is PlaceOrder's answer for an order that is a lottery entry:
// in line (ErrInLine), lost (ErrSoldOut, with the waitlist place), or
// refused by a limit at its turn (ErrLimit). A won entry answers its order.
type EntryError struct {
	Entry Entry
	// DrawAt is when the window closes (the draw follows at once).
	DrawAt   time.Time
	SeedHash string
	err      error
}

func (e *EntryError) Error() string {
	switch e.Entry.Result {
	case EntryLost:
		return fmt.Sprintf("sold out: the draw did not reach your entry; you are number %d on the waitlist", e.Entry.Place)
	case EntryLimit:
		return "your entry's turn came, but a purchase limit refused it"
	case EntryClosed:
		return "the seller closed this drop before its opening draw: no entry was drawn and nothing was sold"
	}
	return e.err.Error()
}

// Unwrap gives the class error.
func (e *EntryError) Unwrap() error { return e.err }

// entryError builds the answer for an entry as stored.
func entryError(en Entry, info LotteryInfo) *EntryError {
	ee := &EntryError{Entry: en, SeedHash: info.SeedHash, err: ErrInLine}
	if !info.StartedAt.IsZero() {
		ee.DrawAt = info.StartedAt.Add(time.Duration(info.WindowMs) * time.Millisecond)
	}
	switch en.Result {
	case EntryLost:
		ee.err = ErrSoldOut
	case EntryLimit:
		ee.err = ErrLimit
	case EntryClosed:
		ee.err = ErrNotOpen
	}
	return ee
}
