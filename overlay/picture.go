package overlay

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/media"
)

// picture.go carries the overlay events that each hold one thing's whole
// current picture (a lot, a giveaway): the origin validates and stamps them
// with the media clock, and edges map that time onto their own timeline.

// picture is one such event: Validate checks its fields, encode writes its
// wire message (media_ts only when tsOK).
type picture interface {
	Validate() error
	encode(ts uint32, tsOK bool) []byte
}

func (l *Lot) encode(ts uint32, tsOK bool) []byte      { return encodeLot(ts, tsOK, l) }
func (g *Giveaway) encode(ts uint32, tsOK bool) []byte { return encodeGiveaway(ts, tsOK, g) }

// publishPicture tells stream's subscribers (the edges) p as a typ
// message, stamped with the stream's media clock (no media_ts before its
// first video packet). A stream nobody subscribes to has no one to tell.
// Errors wrap ErrInvalid; ErrClosed once the hub stopped.
func (h *OriginHub) publishPicture(stream, typ string, p picture) error {
	start := time.Now()
	if !media.ValidName(stream) {
		return fmt.Errorf("%w: stream must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, checkout.MaxIDLen)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	b := h.lockBoard(stream, false)
	if b == nil {
		h.mu.Lock()
		closed := h.closed
		h.mu.Unlock()
		if closed {
			return ErrClosed
		}
		return nil
	}
	defer h.release(b)
	ts, ok := h.clock(stream)
	h.publish(b, typ, p.encode(ts, ok), start)
	return nil
}

// ingestPicture passes an upstream typ event p on to the viewers (b
// locked), its media time (mediaTS, nil for none) mapped onto this edge's
// timeline; nothing else changes.
func (h *EdgeHub) ingestPicture(b *board, typ string, mediaTS *uint32, p picture, start time.Time) {
	var ts uint32
	if mediaTS != nil {
		ts = h.mapTS(b.name, *mediaTS)
	}
	h.publish(b, typ, p.encode(ts, mediaTS != nil), start)
}

// validText reports whether s is at most max bytes of printable UTF-8.
func validText(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
