package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/overlay"
)

// lotStamper publishes each change of a lot's price, leader, end or phase
// on the origin's overlay hub, stamped there with the media clock of the
// lot's stream, so every edge's viewers see it on the frame it was made for.
type lotStamper struct {
	lots  auction.Store
	now   func() time.Time
	cards stamper[overlay.Lot] // by lot id, until it ends
}

func newLotStamper(lots auction.Store, hub *overlay.OriginHub, log *slog.Logger) *lotStamper {
	return &lotStamper{lots: lots, now: time.Now, cards: stamper[overlay.Lot]{
		kind: "lot", log: log.With("component", "auction-overlay"), send: hub.PublishLot,
		older: func(prev, next overlay.Lot) bool { return prev.Seq > next.Seq },
		final: func(l overlay.Lot) bool { return l.State == overlay.LotEnded },
	}}
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
	s.cards.stamp(snap.Lot.Stream, l.ID, l)
}

// Run follows the store's lot changes until ctx ends, subscribing again
// with backoff when the subscription breaks.
func (s *lotStamper) Run(ctx context.Context) error {
	auction.Follow(ctx, s.lots, s.publish, s.cards.lost)
	return nil
}
