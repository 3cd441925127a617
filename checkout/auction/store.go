package auction

import (
	"context"
	"time"
)

// Snapshot is a lot with its state, as a store reads it.
type Snapshot struct {
	Lot   Lot   `json:"lot"`
	State State `json:"state"`
	// Winner and OrderID are set once the closer has made the won lot an
	// order.
	OrderID string `json:"order_id,omitempty"`
	// Closed: the closer is done with the lot (settled).
	Closed bool `json:"closed,omitempty"`
	// StartedMS is when the seller started the lot, by the store's clock
	// (0 until then).
	StartedMS int64 `json:"started_ms,omitempty"`
}

// BidRequest is one bid as an edge hands it to the store. Key (the
// request's Idempotency-Key) makes retries return the first answer.
type BidRequest struct {
	Lot string
	Key string
	Bid Bid
	// Pay is the bid's payment method: "" card, checkout.PayWallet the
	// buyer's wallet (held before the bid is taken: wallet.go).
	Pay string
}

// Answer is the store's decision on one bid.
type Answer struct {
	Result Result `json:"result"`
	State  State  `json:"state"`
	// AtMS is when the store decided it, by its clock.
	AtMS int64 `json:"at_ms"`
	// First: the buyer's first valid bid on the lot.
	First bool `json:"first,omitempty"`
	// Replay: the answer of an earlier request with the same key.
	Replay bool `json:"-"`
}

// Record is one decided bid in a lot's log (retries excluded).
type Record struct {
	Bid
	Result    Result `json:"result"`
	AtMS      int64  `json:"at_ms"`
	Price     int64  `json:"price_cents_after"`
	Leader    string `json:"leader_after"`
	EndsMS    int64  `json:"ends_ms_after"`
	PrevEnds  int64  `json:"ends_ms_before"`
	PrevPrice int64  `json:"price_cents_before"`
	// Seq is the lot's change count after the bid.
	Seq int64 `json:"seq_after"`
}

// Update is what viewers are told after a lot changed.
type Update struct {
	Lot        string `json:"lot"`
	Phase      string `json:"phase"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
	Leader     string `json:"leader,omitempty"` // masked
	EndsMS     int64  `json:"ends_ms"`
	NowMS      int64  `json:"now_ms"`
	Bids       int    `json:"bids"`
	Seq        int64  `json:"seq"`
	MinCents   int64  `json:"min_cents"`
	// ReserveMet: no reserve, or the price reached it.
	ReserveMet bool `json:"reserve_met"`
}

// UpdateOf is the viewers' picture of a snapshot at nowMS.
func UpdateOf(s Snapshot, nowMS int64) Update {
	u := Update{Lot: s.Lot.ID, Phase: s.State.Phase, PriceCents: s.State.PriceCents, Currency: s.Lot.Currency,
		EndsMS: s.State.EndsMS, NowMS: nowMS, Bids: s.State.Bids, Seq: s.State.Seq, MinCents: MinBid(s.Lot, s.State),
		ReserveMet: s.State.PriceCents >= s.Lot.ReserveCents}
	if s.State.Phase == PhaseLive && nowMS >= s.State.EndsMS {
		u.Phase = PhaseEnded
	}
	if s.State.Leader != "" {
		u.Leader = Mask(s.State.Leader)
	}
	return u
}

// Store decides bids, one place per lot: every bid on a lot is resolved
// atomically against the lot's state by the store's clock.
type Store interface {
	// Create stores a new lot (normalized and valid) in phase created.
	Create(ctx context.Context, l Lot) error
	// Start makes a created lot live until now + its duration.
	Start(ctx context.Context, id string) (Snapshot, error)
	// End brings a live lot's end to now (the seller's hammer).
	End(ctx context.Context, id string) (Snapshot, error)
	// Bid decides one bid (Resolve), idempotently by (buyer, key).
	Bid(ctx context.Context, req BidRequest) (Answer, error)
	// Lot reads a lot.
	Lot(ctx context.Context, id string) (Snapshot, error)
	// Log reads every decided bid of a lot, in the order decided.
	Log(ctx context.Context, id string) ([]Record, error)
	// Finish marks a live lot past its end ended and returns it (ok false
	// while it still runs).
	Finish(ctx context.Context, id string) (s Snapshot, ok bool, err error)
	// SetOrder records the order a won lot became.
	SetOrder(ctx context.Context, id, orderID string) error
	// Open lists lots not yet finished with an order or without a winner.
	Open(ctx context.Context) ([]string, error)
	// Close marks a lot done with (it leaves Open); first reports whether
	// this call closed it (several closers may settle a lot at once: only
	// the first close counts it).
	Close(ctx context.Context, id string) (first bool, err error)
	// SetHold keeps a buyer's payment hold for a lot; Holds reads them.
	SetHold(ctx context.Context, id, buyer, authID string) error
	Holds(ctx context.Context, id string) (map[string]string, error)
	// Subscribe calls f with every change of every lot until ctx ends.
	Subscribe(ctx context.Context, f func(Snapshot)) error
	// Now is the store's clock.
	Now(ctx context.Context) (time.Time, error)
	// Lots lists every lot's id, settled ones included (the event report).
	Lots(ctx context.Context) ([]string, error)
}

// Follow passes every lot change of s to f until ctx ends, subscribing
// again with backoff (100 ms doubling to 5 s) when the subscription
// breaks; lost is told why each time.
func Follow(ctx context.Context, s Store, f func(Snapshot), lost func(error)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.Subscribe(ctx, f)
		if ctx.Err() != nil {
			return
		}
		lost(err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, 5*time.Second)
	}
}
