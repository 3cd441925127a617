package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/overlay"
)

// giveawayStamper publishes each giveaway's start (the seed's hash) and
// draw (the masked winner and the revealed seed) on the origin's overlay
// hub, stamped there with the media clock of the giveaway's stream, so
// every edge's viewers see the winner on the frame it was drawn on.
type giveawayStamper struct {
	store giveaway.Store
	gives *giveaway.Giveaways
	cards stamper[overlay.Giveaway] // by giveaway id
}

// maxStamped bounds the giveaways whose last event is remembered (past
// it, memory starts over: at worst one event is sent twice).
const maxStamped = 1000

func newGiveawayStamper(store giveaway.Store, gives *giveaway.Giveaways, hub *overlay.OriginHub, log *slog.Logger) *giveawayStamper {
	return &giveawayStamper{store: store, gives: gives, cards: stamper[overlay.Giveaway]{
		kind: "giveaway", log: log.With("component", "giveaway-overlay"), send: hub.PublishGiveaway,
		// Once drawn, a giveaway's picture never changes again.
		older: func(prev, _ overlay.Giveaway) bool { return prev.State == overlay.GiveawayDrawn },
		max:   maxStamped,
	}}
}

// giveawayEvent is a giveaway's card on the stream: after the draw, the
// masked winner (never the buyer's id), the seed and the entrants' digest.
func giveawayEvent(v giveaway.View) overlay.Giveaway {
	g := overlay.Giveaway{ID: v.ID, State: overlay.GiveawayOpen, Prize: v.Prize, Rule: v.Rule, Commitment: v.Commitment,
		Entrants: v.Entrants}
	if v.State == "drawn" {
		g.State, g.Winner, g.Seed, g.EntrantsDigest = overlay.GiveawayDrawn, v.WinnerMasked, v.Seed, v.EntrantsDigest
	}
	return g
}

// publish reads giveaway id as it is now and stamps it on its stream,
// unless that picture was the last one stamped.
func (s *giveawayStamper) publish(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := s.gives.Get(ctx, id)
	if err != nil {
		s.cards.log.Warn("giveaway change not read", "giveaway", id, "err", err)
		return
	}
	s.cards.stamp(v.Stream, id, giveawayEvent(v))
}

// Run follows the store's giveaway changes until ctx ends, subscribing
// again with backoff when the subscription breaks.
func (s *giveawayStamper) Run(ctx context.Context) error {
	giveaway.Follow(ctx, s.store, func(c giveaway.Change) { s.publish(ctx, c.ID) }, s.cards.lost)
	return nil
}
