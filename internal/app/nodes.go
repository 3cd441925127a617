package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/config"
	"github.com/livedrop/livedrop/internal/httpnode"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/viewlog"
	"github.com/livedrop/livedrop/internal/webui"
	"github.com/livedrop/livedrop/internal/whep"
	"github.com/livedrop/livedrop/origin"
	"github.com/livedrop/livedrop/overlay"
)

// ingestInto hands upstream event messages to an edge's overlay hub.
func ingestInto(hub *overlay.EdgeHub, log *slog.Logger) func(string, []byte) {
	return func(stream string, msg []byte) {
		if err := hub.Ingest(stream, msg); err != nil {
			log.Debug("upstream overlay message refused", "stream", stream, "err", err)
		}
	}
}

// openCheckoutStore opens the drops store of a standalone node. Without a
// Redis URL the node runs without checkout: an embedded store is one
// process's truth, which only the demo may use.
func openCheckoutStore(ctx context.Context, cfg checkout.Config, dataDir string, log *slog.Logger) (checkout.Store, error) {
	if !cfg.UsesRedis() {
		log.Info("checkout disabled: set LIVEDROP_REDIS_URL (checkout.redis_url) or checkout.redis.addrs to take orders")
		return nil, nil
	}
	store, err := checkout.OpenStore(ctx, cfg, dataDir, log)
	if err != nil {
		return nil, fmt.Errorf("checkout redis: %w", err)
	}
	return store, nil
}

// nodeConfig is a standalone node's configuration file.
type nodeConfig interface {
	config.Validator
	common() (settings httpnode.Settings, dataDir string, ck checkout.Config)
}

func (c *originConfig) common() (httpnode.Settings, string, checkout.Config) {
	return c.Settings, c.DataDir, c.Checkout.Config
}

func (c *edgeConfig) common() (httpnode.Settings, string, checkout.Config) {
	return c.Settings, c.DataDir, c.Checkout.Config
}

// loadNode reads a node command's flags and configuration into cfg and
// opens what every node has: its logger, its metrics registry, and the
// checkout store when checkout is on (nil otherwise; the caller closes it).
func loadNode(ctx context.Context, name string, args []string, env Env, cfg nodeConfig) (*slog.Logger, *prometheus.Registry, checkout.Store, error) {
	flags, err := parseFlags(name, args, env)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := config.Load(flags.config, cfg, nodeAliases.Lookup(env.lookup())); err != nil {
		return nil, nil, nil, fmt.Errorf("config: %w", err)
	}
	settings, dataDir, ck := cfg.common()
	log := newLogger(env.Stderr, settings.LogLevel)
	if ex, ok := cfg.(interface{ exposure() error }); ok {
		if err := ex.exposure(); err != nil {
			if !flags.insecure {
				return nil, nil, nil, fmt.Errorf("config: %s listens on a public address unprotected (pass --insecure to run anyway):\n%w", name, err)
			}
			log.Warn("running unprotected on a public address (--insecure)", "problems", err.Error())
		}
	}
	store, err := openCheckoutStore(ctx, ck, dataDir, log)
	if err != nil {
		return nil, nil, nil, err
	}
	return log, prometheus.NewRegistry(), store, nil
}

func runOrigin(ctx context.Context, args []string, env Env) (err error) {
	cfg := originConfig{Config: origin.DefaultConfig(), Checkout: checkoutConfig{Config: checkout.Defaults()}, Overlay: overlay.Defaults()}
	log, reg, store, err := loadNode(ctx, "origin", args, env, &cfg)
	if err != nil {
		return err
	}
	var (
		services []httpnode.Service
		feed     whep.EventFeed
		streams  = stream.NewRegistry()
		views    *viewlog.Book
	)
	g, err := newGuard(log, reg, cfg.AuthGuard)
	if err != nil {
		if store != nil {
			err = errors.Join(err, store.Close())
		}
		return err
	}
	defer g.Flush() // the failures counted since the last summary line
	if store != nil {
		defer func() { err = errors.Join(err, store.Close()) }()
		hub, overlays, err := originOverlays(log, reg, cfg.Overlay, store, cfg.Checkout.ControlToken, streams, g)
		if err != nil {
			return err
		}
		ctl, err := newControlCheckout(log, reg, cfg.Checkout, store, buyerStore(store), hub.NotifyDropState, g, cfg.Access.NodeSecrets, walletStore(store))
		if err != nil {
			return err
		}
		if views, err = viewlog.New(viewlog.Params{Registerer: reg}); err != nil {
			return err
		}
		ctl.api.SetViews(views) // the report's viewer figures
		if rs, ok := store.(*checkout.RedisStore); ok {
			// The history outlives the origin: back at start, saved every second.
			keeper, err := viewlog.NewKeeper(viewlog.KeeperParams{Book: views, Log: viewlog.NewRedisLog(rs.Client(), 0), Logger: log, Registerer: reg})
			if err == nil {
				err = keeper.Restore(ctx)
			}
			if err != nil {
				return err
			}
			services = append(services, keeper)
		}
		services, feed = append(services, ctl, overlays), hub
		ls, gs := auctionStore(store), giveawayStore(store)
		lots, err := newControlAuction(log, reg, cfg.Checkout, ls, store, g, hub, ctl.pay)
		if err != nil {
			return err
		}
		services = append(services, lots)
		gives, err := newControlGiveaways(log, reg, cfg.Checkout, gs, store, g, hub)
		if err != nil {
			return err
		}
		services = append(services, gives)
		ctl.reportFormats(ls, gs) // the report's sale formats
	}
	ui, err := webui.New()
	if err != nil {
		return err
	}
	op := origin.Params{Config: cfg.Config, Logger: log, Registry: reg, Services: services,
		Routes: ui.RegisterConsole, Events: feed, Streams: streams, Guard: g, ControlToken: cfg.Checkout.ControlToken}
	if views != nil {
		op.Views = views
	}
	if rs, ok := store.(*checkout.RedisStore); ok {
		op.Keys = redisKeys{rs.Client()} // the standby origins accept the same publish keys
	}
	o, err := origin.New(op)
	if err != nil {
		return err
	}
	if env.Ready != nil {
		env.Ready(Addrs{OriginHTTP: o.HTTPAddr(), OriginRTSP: o.RTSPAddr()})
	}
	return o.Run(ctx)
}

func runEdge(ctx context.Context, args []string, env Env) (err error) {
	cfg := edgeConfig{Config: edge.DefaultConfig(), Checkout: checkoutConfig{Config: checkout.Defaults()}, Buyer: defaultBuyerConfig(), Overlay: overlay.Defaults()}
	log, reg, store, err := loadNode(ctx, "edge", args, env, &cfg)
	if err != nil {
		return err
	}
	var (
		services []httpnode.Service
		stock    *checkout.Edge
		orders   *edgeCheckout
		streams  = stream.NewRegistry()
	)
	if store != nil {
		defer func() { err = errors.Join(err, store.Close()) }()
		ce, err := newEdgeCheckout(log, reg, cfg.Checkout.Config, cfg.Buyer, store, buyerStore(store), cfg.DataDir, cfg.ID(), cfg.Region, cfg.Access.NodeSecrets, cfg.Proof, walletStore(store))
		if err != nil {
			return err
		}
		services, stock, orders = append(services, ce), ce.edge, ce
		lots, err := newEdgeAuction(log, reg, cfg.Checkout, auctionStore(store), ce)
		if err != nil {
			return err
		}
		services = append(services, lots)
		gives, err := newEdgeGiveaways(log, reg, giveawayStore(store), ce)
		if err != nil {
			return err
		}
		services = append(services, gives)
	}
	// Pages that moved here from a draining sibling keep its origin.
	cfg.Overlay.WebSocket.AllowedOrigins = append(cfg.Overlay.WebSocket.AllowedOrigins, cfg.MoveTargets()...)
	hub, overlays, err := edgeOverlays(log, reg, cfg.Overlay, stock, streams)
	if err != nil {
		return err
	}
	services = append(services, overlays)
	ui, err := webui.New()
	if err != nil {
		return err
	}
	ui.ConnectTo(cfg.MoveTargets())
	e, err := edge.New(edge.Params{Config: cfg.Config, Logger: log, Registry: reg, Routes: ui.Register, Services: services,
		Events: hub, OnUpstreamEvent: ingestInto(hub, log), OnUpstreamGone: hub.Forget, Streams: streams, Proofs: orders.proofs()})
	if err != nil {
		return err
	}
	if env.Ready != nil {
		env.Ready(Addrs{EdgeHTTP: e.HTTPAddr()})
	}
	return e.Run(ctx)
}
