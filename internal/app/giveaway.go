package app

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/checkout/giveaway/giveawayhttp"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/overlay"
)

// The giveaways' wiring: the store beside the checkout store, the
// seller's routes at the origin and the viewers' entry at the edge.

// giveawayStore keeps giveaways on the checkout store's Redis when it has
// one (every edge takes entries in one place), else in this process (the
// demo shares one between its origin and edge).
func giveawayStore(store checkout.Store) giveaway.Store {
	if rs, ok := store.(*checkout.RedisStore); ok {
		return giveaway.NewRedisStore(rs.Client())
	}
	return giveaway.NewMemStore()
}

// giveawayRoutes is a node's giveaway routes as a service (nothing runs).
type giveawayRoutes struct{ register func(*http.ServeMux) }

func (s giveawayRoutes) Register(mux *http.ServeMux) { s.register(mux) }
func (s giveawayRoutes) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// controlGiveaways is the origin's giveaways as a service: the seller's
// routes, and the stamper that puts each start and draw on its stream.
type controlGiveaways struct {
	register func(*http.ServeMux)
	stamp    *giveawayStamper
}

func (s controlGiveaways) Register(mux *http.ServeMux)   { s.register(mux) }
func (s controlGiveaways) Run(ctx context.Context) error { return s.stamp.Run(ctx) }

// newControlGiveaways serves the seller's start and draw at the origin;
// the draw records the winner's order in orders; both are stamped on the
// giveaway's stream through hub.
func newControlGiveaways(log *slog.Logger, reg prometheus.Registerer, cfg checkoutConfig, gs giveaway.Store, orders checkout.Store,
	g *guard.Guard, hub *overlay.OriginHub) (controlGiveaways, error) {
	m, err := giveaway.NewMetrics(reg)
	if err != nil {
		return controlGiveaways{}, err
	}
	gw, err := giveaway.New(giveaway.Params{Store: gs, Orders: orders, Metrics: m, Logger: log})
	if err != nil {
		return controlGiveaways{}, err
	}
	api, err := giveawayhttp.NewSellerAPI(gw, cfg.ControlToken, g, log)
	if err != nil {
		return controlGiveaways{}, err
	}
	return controlGiveaways{register: api.Register, stamp: newGiveawayStamper(gs, gw, hub, log)}, nil
}

// newEdgeGiveaways takes viewers' entries at an edge, with the buyer's
// session, the edge's watch proofs and the buyer's orders.
func newEdgeGiveaways(log *slog.Logger, reg prometheus.Registerer, gs giveaway.Store, orders *edgeCheckout) (giveawayRoutes, error) {
	m, err := giveaway.NewMetrics(reg)
	if err != nil {
		return giveawayRoutes{}, err
	}
	gw, err := giveaway.New(giveaway.Params{Store: gs, Metrics: m, Logger: log})
	if err != nil {
		return giveawayRoutes{}, err
	}
	api, err := giveawayhttp.NewEntryAPI(giveawayhttp.EntryParams{Giveaways: gw, Sessions: orders.buyers.sessions, Watch: orders.gate,
		Orders: orders.edge, Logger: log})
	if err != nil {
		return giveawayRoutes{}, err
	}
	return giveawayRoutes{api.Register}, nil
}
