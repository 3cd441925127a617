package app

import (
	"log/slog"
	"sync"
)

// stamper.go holds what the origin's overlay stampers share: the last card
// published for each id, so each new card goes out once and an older one
// arriving late never does.

// stamper publishes cards of type C (overlay events) on their streams
// through send, skipping a card equal to the last one published for its
// id or superseded by it. Its zero value needs kind, log and send.
type stamper[C comparable] struct {
	kind string // "lot", "giveaway": the card's name in logs
	log  *slog.Logger
	send func(stream string, c C) error
	// older reports whether next is superseded by prev, the last card
	// published for its id; nil: none is.
	older func(prev, next C) bool
	// final reports a card after which its id is forgotten; nil: none is.
	final func(c C) bool
	// max bounds the ids remembered (0: no bound); past it memory starts
	// over (at worst one card is sent twice).
	max int

	mu   sync.Mutex
	last map[string]C // by id: the last published
}

// stamp publishes c, the card of id, on stream unless it is nothing new;
// it never blocks on anything but send.
func (s *stamper[C]) stamp(stream, id string, c C) {
	s.mu.Lock()
	prev, seen := s.last[id]
	if seen && (prev == c || s.older != nil && s.older(prev, c)) {
		s.mu.Unlock()
		return // nothing new, or an older card arriving late
	}
	if s.final != nil && s.final(c) {
		delete(s.last, id)
	} else {
		if s.last == nil || s.max > 0 && len(s.last) >= s.max {
			s.last = map[string]C{}
		}
		s.last[id] = c
	}
	s.mu.Unlock()
	if err := s.send(stream, c); err != nil {
		s.log.Warn(s.kind+" not stamped on its stream", s.kind, id, "stream", stream, "err", err)
	}
}

// lost logs a broken subscription to the store's changes.
func (s *stamper[C]) lost(err error) {
	s.log.Warn(s.kind+" changes lost; resubscribing", "err", err)
}
