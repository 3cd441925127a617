package overlay

import (
	"fmt"
	"strconv"

	"github.com/livedrop/livedrop/checkout"
)

// giveaway.go carries a seller's giveaway as an overlay event: the origin
// stamps its start (with the seed's hash) and its draw (the masked winner
// and the revealed seed) with the media clock, and edges pass it on to
// viewers, who show it on that frame.

// TypeGiveaway is the wire message of one giveaway's current picture:
//
//	{"v":1,"type":"giveaway","media_ts":90000,"giveaway":{"id":"g1","state":"drawn",
//	 "prize":"Signed tee","rule":"present","commitment":"<64 hex>","entrants":3,
//	 "winner":"b-12…cdef","seed":"<64 hex>","entrants_digest":"<64 hex>"}}
const TypeGiveaway = "giveaway"

// Giveaway states.
const (
	GiveawayOpen  = "open"
	GiveawayDrawn = "drawn"
)

// Limits of a giveaway event's fields, in bytes.
const (
	MaxGiveawayPrizeLen  = 200
	MaxGiveawayWinnerLen = 64
	// MaxGiveawayEntrants bounds the entrant count an event may carry.
	MaxGiveawayEntrants = 1 << 30
)

// Giveaway is a giveaway as its card on the stream shows it; Winner is
// already masked (the origin never sends a buyer's id). The entrants'
// list stays with the giveaway's read (too long for an event): the digest
// lets a viewer check the list it reads there.
type Giveaway struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	Prize      string `json:"prize,omitempty"`
	Rule       string `json:"rule"`
	Commitment string `json:"commitment"`
	Entrants   int    `json:"entrants"`
	// After the draw: the masked winner, the seed (hex) and the digest of
	// the sorted entrants.
	Winner         string `json:"winner,omitempty"`
	Seed           string `json:"seed,omitempty"`
	EntrantsDigest string `json:"entrants_digest,omitempty"`
}

// Validate checks a giveaway event's fields; errors wrap ErrInvalid and
// name the field.
func (g *Giveaway) Validate() error {
	drawn := g.State == GiveawayDrawn
	switch {
	case !checkout.ValidID(g.ID):
		return fmt.Errorf("%w: giveaway id must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, checkout.MaxIDLen)
	case g.State != GiveawayOpen && !drawn:
		return fmt.Errorf("%w: giveaway %s: state must be %q or %q", ErrInvalid, g.ID, GiveawayOpen, GiveawayDrawn)
	case !validText(g.Prize, MaxGiveawayPrizeLen):
		return fmt.Errorf("%w: giveaway %s: prize must be at most %d bytes of printable UTF-8", ErrInvalid, g.ID, MaxGiveawayPrizeLen)
	case g.Rule != "present" && g.Rule != "verified" && g.Rule != "buyers":
		return fmt.Errorf("%w: giveaway %s: rule must be present, verified or buyers", ErrInvalid, g.ID)
	case !validHex256(g.Commitment):
		return fmt.Errorf("%w: giveaway %s: commitment must be 64 lower-case hex digits", ErrInvalid, g.ID)
	case g.Entrants < 0 || g.Entrants > MaxGiveawayEntrants:
		return fmt.Errorf("%w: giveaway %s: entrants out of range", ErrInvalid, g.ID)
	case !drawn && (g.Winner != "" || g.Seed != "" || g.EntrantsDigest != ""):
		return fmt.Errorf("%w: giveaway %s: winner, seed and entrants_digest only after the draw", ErrInvalid, g.ID)
	case drawn && (g.Winner == "" || !validText(g.Winner, MaxGiveawayWinnerLen)):
		return fmt.Errorf("%w: giveaway %s: a drawn giveaway's winner must be 1-%d bytes of printable UTF-8", ErrInvalid, g.ID, MaxGiveawayWinnerLen)
	case drawn && !validHex256(g.Seed):
		return fmt.Errorf("%w: giveaway %s: a drawn giveaway's seed must be 64 lower-case hex digits", ErrInvalid, g.ID)
	case drawn && !validHex256(g.EntrantsDigest):
		return fmt.Errorf("%w: giveaway %s: a drawn giveaway's entrants_digest must be 64 lower-case hex digits", ErrInvalid, g.ID)
	case drawn && g.Entrants == 0:
		return fmt.Errorf("%w: giveaway %s: a winner without entrants", ErrInvalid, g.ID)
	}
	return nil
}

func validHex256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// PublishGiveaway tells stream's subscribers (the edges) a giveaway's
// current picture, stamped with the stream's media clock (no media_ts
// before its first video packet: viewers show it at once). A stream nobody
// subscribes to has no one to tell. Errors wrap ErrInvalid; ErrClosed once
// the hub stopped.
func (h *OriginHub) PublishGiveaway(stream string, g Giveaway) error {
	return h.publishPicture(stream, TypeGiveaway, &g) // picture.go
}

func encodeGiveaway(ts uint32, tsOK bool, g *Giveaway) []byte {
	b := make([]byte, 0, 320+len(g.Prize))
	b = appendHead(b, TypeGiveaway)
	b = appendMediaTS(b, ts, tsOK)
	b = append(b, `,"giveaway":{"id":`...)
	b = appendString(b, g.ID)
	b = append(b, `,"state":`...)
	b = appendString(b, g.State)
	if g.Prize != "" {
		b = append(b, `,"prize":`...)
		b = appendString(b, g.Prize)
	}
	b = append(b, `,"rule":`...)
	b = appendString(b, g.Rule)
	b = append(b, `,"commitment":`...)
	b = appendString(b, g.Commitment)
	b = append(b, `,"entrants":`...)
	b = strconv.AppendInt(b, int64(g.Entrants), 10)
	if g.Winner != "" {
		b = append(b, `,"winner":`...)
		b = appendString(b, g.Winner)
	}
	if g.Seed != "" {
		b = append(b, `,"seed":`...)
		b = appendString(b, g.Seed)
	}
	if g.EntrantsDigest != "" {
		b = append(b, `,"entrants_digest":`...)
		b = appendString(b, g.EntrantsDigest)
	}
	return append(b, "}}"...)
}
