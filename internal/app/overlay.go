package app

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/whep"
	"github.com/livedrop/livedrop/overlay"
	"github.com/livedrop/livedrop/overlay/overlayhttp"
)

var (
	_ whep.EventFeed = (*overlay.OriginHub)(nil)
	_ whep.EventFeed = (*overlay.EdgeHub)(nil)
)

// originOverlays builds the origin's overlay hub and its routes. clock is
// read through a pointer because the origin it comes from is built after
// the hub (the hub is the origin's event feed).
func originOverlays(log *slog.Logger, reg prometheus.Registerer, cfg overlay.Config, drops overlay.DropSource,
	token string, clock *func(string) (uint32, bool)) (*overlay.OriginHub, *overlayhttp.OriginService, error) {
	hub, err := overlay.NewOriginHub(overlay.OriginParams{
		Logger: log, Registerer: reg, Config: cfg, Drops: drops,
		MediaClock: func(stream string) (uint32, bool) {
			if *clock == nil {
				return 0, false
			}
			return (*clock)(stream)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	svc, err := overlayhttp.NewOriginService(overlayhttp.OriginServiceParams{Hub: hub, ControlToken: token, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return hub, svc, nil
}

// edgeOverlays builds an edge's overlay hub (regional price and this edge's
// stock injected into the upstream's events) and its WebSocket.
func edgeOverlays(log *slog.Logger, reg prometheus.Registerer, cfg overlay.Config, stock *checkout.Edge,
	mapTS *func(string, uint32) uint32) (*overlay.EdgeHub, *overlayhttp.EdgeService, error) {
	p := overlay.EdgeParams{Logger: log, Registerer: reg, Config: cfg,
		MapTS: func(stream string, ts uint32) uint32 {
			if *mapTS == nil {
				return ts
			}
			return (*mapTS)(stream, ts)
		}}
	if stock != nil {
		p.Stock = stock
	}
	hub, err := overlay.NewEdgeHub(p)
	if err != nil {
		return nil, nil, err
	}
	svc, err := overlayhttp.NewEdgeService(overlayhttp.EdgeServiceParams{Hub: hub, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return hub, svc, nil
}
