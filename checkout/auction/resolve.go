package auction

import "fmt"

// Phases of a lot.
const (
	PhaseCreated = "created"
	PhaseLive    = "live"
	PhaseEnded   = "ended"
)

// Result is what became of one bid.
type Result string

// Results. Accepted: the bidder leads. Outbid: valid, but another
// bidder's maximum is higher (the price rose to answer it). The others
// change nothing.
const (
	Accepted    Result = "accepted"
	Outbid      Result = "outbid"
	TooLow      Result = "too_low"
	AuctionOver Result = "auction_over"
	NotStarted  Result = "not_started"
)

// Valid reports whether the bid counted (it may move the price and the end).
func (r Result) Valid() bool { return r == Accepted || r == Outbid }

// State is a lot's live state, as the store keeps it.
type State struct {
	Phase      string `json:"phase"`
	EndsMS     int64  `json:"ends_ms"`
	PriceCents int64  `json:"price_cents"`
	// Leader is the buyer who leads and LeaderMax the most they bid for
	// (their proxy maximum; never shown to anyone).
	Leader    string `json:"-"`
	LeaderMax int64  `json:"-"`
	Bids      int    `json:"bids"`
	Seq       int64  `json:"seq"`
}

// Bid is one buyer's bid: a plain bid of AmountCents (the price becomes at
// least that), or a proxy bid with MaxCents (the store bids for the buyer,
// one step at a time, up to that). Exactly one is set.
type Bid struct {
	Buyer       string `json:"buyer"`
	AmountCents int64  `json:"amount_cents,omitempty"`
	MaxCents    int64  `json:"max_cents,omitempty"`
}

// Validate checks the bid's shape (not its amount against the lot).
func (b Bid) Validate() error {
	switch {
	case b.Buyer == "":
		return fmt.Errorf("buyer: required: %w", ErrInvalid)
	case (b.AmountCents == 0) == (b.MaxCents == 0):
		return fmt.Errorf("exactly one of amount_cents and max_cents: %w", ErrInvalid)
	case b.AmountCents < 0 || b.MaxCents < 0 || b.AmountCents > MaxCents || b.MaxCents > MaxCents:
		return fmt.Errorf("amount: between 1 and %d cents: %w", MaxCents, ErrInvalid)
	}
	return nil
}

// MinBid is the smallest bid s accepts from a buyer who does not lead.
func MinBid(l Lot, s State) int64 {
	if s.Leader == "" {
		return l.StartCents
	}
	return s.PriceCents + l.Increments.Step(s.PriceCents)
}

// Resolve decides bid b, arriving at nowMS (the store's clock), against
// lot l in state s: the state after it and the result. A refused bid
// leaves s as it was. The stores run exactly these rules (the Redis
// store's script is their Lua copy; tests replay its log through here).
//
// Proxy bids resolve at once: the higher maximum leads, at one step above
// the other maximum (capped by its own); equal maxima keep the earlier
// leader. A leader's maximum meeting the reserve lifts the price to it. A
// valid bid with less than ExtendMS left puts the end ExtendMS after it.
func Resolve(l Lot, s State, b Bid, nowMS int64) (State, Result) {
	switch {
	case s.Phase == PhaseCreated:
		return s, NotStarted
	case s.Phase != PhaseLive || nowMS >= s.EndsMS:
		return s, AuctionOver
	}
	floor, top := b.AmountCents, b.MaxCents
	if top == 0 {
		top = floor
	}
	least := MinBid(l, s)
	res := Accepted
	switch {
	case s.Leader == b.Buyer:
		// The leader raises their own maximum; the price stays.
		if top <= s.LeaderMax {
			return s, TooLow
		}
		s.LeaderMax = top
	case top < least:
		return s, TooLow
	case s.Leader == "":
		s.Leader, s.LeaderMax, s.PriceCents = b.Buyer, top, max(l.StartCents, floor)
	case top > s.LeaderMax:
		s.PriceCents = max(least, floor, minInt(top, s.LeaderMax+l.Increments.Step(s.LeaderMax)))
		s.Leader, s.LeaderMax = b.Buyer, top
	default:
		// The leader's proxy answers, up to its maximum.
		s.PriceCents = max(s.PriceCents, top, minInt(s.LeaderMax, top+l.Increments.Step(top)))
		res = Outbid
	}
	if l.ReserveCents > 0 && s.PriceCents < l.ReserveCents && s.LeaderMax >= l.ReserveCents {
		s.PriceCents = l.ReserveCents
	}
	if !l.SuddenDeath && s.EndsMS-nowMS < l.ExtendMS {
		s.EndsMS = nowMS + l.ExtendMS
	}
	s.Bids++
	s.Seq++
	return s, res
}

func minInt(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

// Winner is who won an ended lot and at what price: none when nobody bid
// or the reserve was not met.
func Winner(l Lot, s State) (buyer string, priceCents int64, ok bool) {
	if s.Leader == "" || s.PriceCents < l.ReserveCents {
		return "", 0, false
	}
	return s.Leader, s.PriceCents, true
}
