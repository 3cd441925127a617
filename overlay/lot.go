package overlay

import (
	"fmt"
	"strconv"

	"github.com/livedrop/livedrop/checkout"
)

// lot.go carries a live auction's lot as an overlay event: the origin
// stamps each change of its price, leader or end with the media clock, and
// edges pass it on to viewers, who show it on that frame.

// TypeLot is the wire message of one lot's current picture:
//
//	{"v":1,"type":"lot","media_ts":90000,"lot":{"id":"lot1","state":"live",
//	 "price_cents":1500,"currency":"EUR","leader":"a***e","ends_at_ms":1763780000000,
//	 "seq":4,"bids":3,"min_cents":1600,"reserve_met":true}}
const TypeLot = "lot"

// Lot states (the auction's phases).
const (
	LotCreated = "created"
	LotLive    = "live"
	LotEnded   = "ended"
)

// MaxLeaderLen bounds a lot's masked leader, in bytes.
const MaxLeaderLen = 64

// Lot is a lot as its card on the stream shows it; Leader is already
// masked (the origin never sends a buyer's name).
type Lot struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
	Leader     string `json:"leader,omitempty"`
	EndsAtMS   int64  `json:"ends_at_ms"`
	// Seq is the lot's change count: a viewer keeps the highest.
	Seq        int64 `json:"seq"`
	Bids       int   `json:"bids"`
	MinCents   int64 `json:"min_cents"`
	ReserveMet bool  `json:"reserve_met"`
}

// Validate checks a lot event's fields; errors wrap ErrInvalid and name the
// field.
func (l *Lot) Validate() error {
	switch {
	case !checkout.ValidID(l.ID):
		return fmt.Errorf("%w: lot id must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, checkout.MaxIDLen)
	case l.State != LotCreated && l.State != LotLive && l.State != LotEnded:
		return fmt.Errorf("%w: lot %s: state must be %q, %q or %q", ErrInvalid, l.ID, LotCreated, LotLive, LotEnded)
	case l.PriceCents < 0 || l.PriceCents > checkout.MaxPriceCent:
		return fmt.Errorf("%w: lot %s: price_cents out of range", ErrInvalid, l.ID)
	case l.MinCents < 0 || l.MinCents > checkout.MaxPriceCent:
		return fmt.Errorf("%w: lot %s: min_cents out of range", ErrInvalid, l.ID)
	case !validCurrency(l.Currency):
		return fmt.Errorf("%w: lot %s: currency must be 3 upper-case letters", ErrInvalid, l.ID)
	case !validText(l.Leader, MaxLeaderLen):
		return fmt.Errorf("%w: lot %s: leader must be at most %d bytes of printable UTF-8", ErrInvalid, l.ID, MaxLeaderLen)
	case l.EndsAtMS < 0:
		return fmt.Errorf("%w: lot %s: ends_at_ms must be >= 0", ErrInvalid, l.ID)
	case l.State != LotCreated && l.EndsAtMS == 0:
		return fmt.Errorf("%w: lot %s: a started lot needs ends_at_ms", ErrInvalid, l.ID)
	case l.Seq < 0:
		return fmt.Errorf("%w: lot %s: seq must be >= 0", ErrInvalid, l.ID)
	case l.Bids < 0:
		return fmt.Errorf("%w: lot %s: bids must be >= 0", ErrInvalid, l.ID)
	case l.Bids == 0 && l.Leader != "":
		return fmt.Errorf("%w: lot %s: a leader without bids", ErrInvalid, l.ID)
	}
	return nil
}

// PublishLot tells stream's subscribers (the edges) a lot's current
// picture, stamped with the stream's media clock (no media_ts before its
// first video packet: viewers show it at once). A stream nobody subscribes
// to has no one to tell. Errors wrap ErrInvalid; ErrClosed once the hub
// stopped.
func (h *OriginHub) PublishLot(stream string, l Lot) error {
	return h.publishPicture(stream, TypeLot, &l) // picture.go
}

func encodeLot(ts uint32, tsOK bool, l *Lot) []byte {
	b := make([]byte, 0, 256)
	b = appendHead(b, TypeLot)
	b = appendMediaTS(b, ts, tsOK)
	b = append(b, `,"lot":{"id":`...)
	b = appendString(b, l.ID)
	b = append(b, `,"state":`...)
	b = appendString(b, l.State)
	b = append(b, `,"price_cents":`...)
	b = strconv.AppendInt(b, l.PriceCents, 10)
	b = append(b, `,"currency":`...)
	b = appendString(b, l.Currency)
	if l.Leader != "" {
		b = append(b, `,"leader":`...)
		b = appendString(b, l.Leader)
	}
	b = append(b, `,"ends_at_ms":`...)
	b = strconv.AppendInt(b, l.EndsAtMS, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, l.Seq, 10)
	b = append(b, `,"bids":`...)
	b = strconv.AppendInt(b, int64(l.Bids), 10)
	b = append(b, `,"min_cents":`...)
	b = strconv.AppendInt(b, l.MinCents, 10)
	b = append(b, `,"reserve_met":`...)
	b = strconv.AppendBool(b, l.ReserveMet)
	return append(b, "}}"...)
}
