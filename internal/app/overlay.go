package app

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/whep"
	"github.com/livedrop/livedrop/overlay"
	"github.com/livedrop/livedrop/overlay/overlayhttp"
)

var (
	_ whep.EventFeed = (*overlay.OriginHub)(nil)
	_ whep.EventFeed = (*overlay.EdgeHub)(nil)
)

// originOverlays builds the origin's overlay hub and its routes. The hub
// stamps events with the clock of the origin's streams, read from streams:
// the registry the origin is then built with (the hub is its event feed).
// On a Redis checkout store the pins are shared with the other origins.
func originOverlays(log *slog.Logger, reg prometheus.Registerer, cfg overlay.Config, drops overlay.DropSource,
	token string, streams *stream.Registry, g *guard.Guard) (*overlay.OriginHub, *overlayhttp.OriginService, error) {
	p := overlay.OriginParams{Logger: log, Registerer: reg, Config: cfg, Drops: drops, MediaClock: streams.MediaClock}
	if rs, ok := drops.(*checkout.RedisStore); ok {
		p.Boards = overlay.NewRedisBoards(rs.Client())
	}
	hub, err := overlay.NewOriginHub(p)
	if err != nil {
		return nil, nil, err
	}
	svc, err := overlayhttp.NewOriginService(overlayhttp.OriginServiceParams{Hub: hub, ControlToken: token, Registerer: reg, Guard: g, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return hub, svc, nil
}

// edgeOverlays builds an edge's overlay hub (regional price and this edge's
// stock injected into the upstream's events) and its WebSocket. The hub maps
// upstream media time onto the edge's streams, read from streams: the
// registry the edge is then built with (the hub is its event feed).
func edgeOverlays(log *slog.Logger, reg prometheus.Registerer, cfg overlay.Config, stock *checkout.Edge,
	streams *stream.Registry) (*overlay.EdgeHub, *overlayhttp.EdgeService, error) {
	p := overlay.EdgeParams{Logger: log, Registerer: reg, Config: cfg, MapTS: streams.MapTS}
	if stock != nil {
		p.Stock = stock
	}
	hub, err := overlay.NewEdgeHub(p)
	if err != nil {
		return nil, nil, err
	}
	svc, err := overlayhttp.NewEdgeService(overlayhttp.EdgeServiceParams{Hub: hub, Registerer: reg, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return hub, svc, nil
}
