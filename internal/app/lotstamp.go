package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/overlay"
)

// lotStamper publishes each change of a lot's price, leader, end or phase
// on the origin's overlay hub, stamped there with the media clock of the
// lot's stream, so every edge's viewers see it on the frame it was made for.
type lotStamper struct {
	lots auction.Store
	hub  *overlay.OriginHub
	log  *slog.Logger
	now  func() time.Time

	mu   sync.Mutex
	last map[string]overlay.Lot // by lot id: the last published, until it ends
}

func newLotStamper(lots auction.Store, hub *overlay.OriginHub, log *slog.Logger) *lotStamper {
	return &lotStamper{lots: lots, hub: hub, log: log.With("component", "auction-overlay"), now: time.Now,
		last: map[string]overlay.Lot{}}
}

// lotEvent is a snapshot's card at nowMS: the phase as viewers see it
// (ended once past its end), the leader masked.
func lotEvent(s auction.Snapshot, nowMS int64) overlay.Lot {
	u := auction.UpdateOf(s, nowMS)
	return overlay.Lot{ID: u.Lot, State: u.Phase, PriceCents: u.PriceCents, Currency: u.Currency, Leader: u.Leader,
		EndsAtMS: u.EndsMS, Seq: u.Seq, Bids: u.Bids, MinCents: u.MinCents, ReserveMet: u.ReserveMet}
}

// publish stamps one change of a lot on a stream; it never calls the
// store (the memory store calls it under its lock) and never blocks.
func (s *lotStamper) publish(snap auction.Snapshot) {
	if snap.Lot.Stream == "" {
		return // a lot on no stream has no card on one
	}
	l := lotEvent(snap, s.now().UnixMilli())
	s.mu.Lock()
	prev, seen := s.last[l.ID]
	if seen && (prev == l || prev.Seq > l.Seq) {
		s.mu.Unlock()
		return // nothing new, or an older change arriving late
	}
	if l.State == overlay.LotEnded {
		delete(s.last, l.ID)
	} else {
		s.last[l.ID] = l
	}
	s.mu.Unlock()
	if err := s.hub.PublishLot(snap.Lot.Stream, l); err != nil {
		s.log.Warn("lot not stamped on its stream", "lot", l.ID, "stream", snap.Lot.Stream, "err", err)
	}
}

// Run follows the store's lot changes until ctx ends, subscribing again
// with backoff when the subscription breaks.
func (s *lotStamper) Run(ctx context.Context) error {
	auction.Follow(ctx, s.lots, s.publish, func(err error) { s.log.Warn("lot changes lost; resubscribing", "err", err) })
	return nil
}
