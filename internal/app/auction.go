package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/auction/auctionhttp"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/overlay"
)

// auctionStore is the lots' store beside the checkout store: on its Redis
// when it has one (every edge bids in one place), else in this process
// (the demo shares one between its origin and edge).
func auctionStore(store checkout.Store) auction.Store {
	if rs, ok := store.(*checkout.RedisStore); ok {
		return auction.NewRedisStore(rs.Client())
	}
	return auction.NewMemStore(nil)
}

// controlAuction runs the seller's lots at the origin: the control routes,
// the closer that makes won lots orders, and the stamper that puts each
// lot's changes on its stream's overlay events.
type controlAuction struct {
	closer *auction.Closer
	api    *auctionhttp.ControlAPI
	stamp  *lotStamper
}

func newControlAuction(log *slog.Logger, reg prometheus.Registerer, cfg checkoutConfig, lots auction.Store, orders checkout.Store, g *guard.Guard, hub *overlay.OriginHub,
	pay checkout.PaymentProvider) (*controlAuction, error) {
	m, err := auction.NewCloserMetrics(reg)
	if err != nil {
		return nil, err
	}
	closer, err := auction.NewCloser(auction.CloserParams{Store: lots, Orders: orders, Payments: pay, // a wallet bid's order is paid from the wallet
		HoldOn: cfg.Auction.HoldOn(), Metrics: m, Logger: log})
	if err != nil {
		return nil, err
	}
	api, err := auctionhttp.NewControlAPI(lots, closer, cfg.ControlToken, g, log)
	if err != nil {
		return nil, err
	}
	return &controlAuction{closer: closer, api: api, stamp: newLotStamper(lots, hub, log)}, nil
}

func (s *controlAuction) Register(mux *http.ServeMux) { s.api.Register(mux) }

// Run runs the closer and the stamper until ctx ends (or the closer fails).
func (s *controlAuction) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = s.stamp.Run(ctx) })
	return s.closer.Run(ctx)
}

// edgeAuction takes bids at an edge and streams each lot to its viewers.
type edgeAuction struct {
	edge *auction.Edge
	api  *auctionhttp.EdgeAPI
}

func newEdgeAuction(log *slog.Logger, reg prometheus.Registerer, cfg checkoutConfig, lots auction.Store, orders *edgeCheckout) (*edgeAuction, error) {
	m, err := auction.NewEdgeMetrics(reg)
	if err != nil {
		return nil, err
	}
	e, err := auction.NewEdge(auction.EdgeParams{Store: lots, Payments: orders.pay, HoldOn: cfg.Auction.HoldOn(), // wallet bids hold on the wallet
		Metrics: m, Logger: log})
	if err != nil {
		return nil, err
	}
	api, err := auctionhttp.NewEdgeAPI(e, orders.buyers.sessions, log)
	if err != nil {
		return nil, err
	}
	return &edgeAuction{edge: e, api: api}, nil
}

func (s *edgeAuction) Register(mux *http.ServeMux)   { s.api.Register(mux) }
func (s *edgeAuction) Run(ctx context.Context) error { return s.edge.Run(ctx) }
