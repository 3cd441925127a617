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
	"github.com/livedrop/livedrop/internal/webui"
	"github.com/livedrop/livedrop/origin"
)

// openCheckoutStore opens the drops store of a standalone node. Without a
// Redis URL the node runs without checkout: an embedded store is one
// process's truth, which only the demo may use.
func openCheckoutStore(ctx context.Context, cfg checkout.Config, dataDir string, log *slog.Logger) (checkout.Store, error) {
	if cfg.RedisURL == "" {
		log.Info("checkout disabled: set LIVEDROP_REDIS_URL (checkout.redis_url) to take orders")
		return nil, nil
	}
	store, err := checkout.OpenStore(ctx, cfg, dataDir, log)
	if err != nil {
		return nil, fmt.Errorf("checkout.redis_url: %w", err)
	}
	return store, nil
}

func runOrigin(ctx context.Context, args []string, env Env) (err error) {
	path, err := parseFlags("origin", args, env)
	if err != nil {
		return err
	}
	cfg := originConfig{Config: origin.DefaultConfig(), Checkout: checkout.Defaults()}
	if err := config.Load(path, &cfg, withAliases(env.lookup())); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := newLogger(env.Stderr, cfg.LogLevel)
	reg := prometheus.NewRegistry()
	store, err := openCheckoutStore(ctx, cfg.Checkout, cfg.DataDir, log)
	if err != nil {
		return err
	}
	var services []httpnode.Service
	if store != nil {
		defer func() { err = errors.Join(err, store.Close()) }()
		ctl, err := newControlCheckout(log, reg, cfg.Checkout, store)
		if err != nil {
			return err
		}
		services = append(services, ctl)
	}
	ui, err := webui.New()
	if err != nil {
		return err
	}
	o, err := origin.New(origin.Params{Config: cfg.Config, Logger: log, Registry: reg, Services: services,
		Routes: ui.RegisterConsole})
	if err != nil {
		return err
	}
	if env.Ready != nil {
		env.Ready(Addrs{OriginHTTP: o.HTTPAddr(), OriginRTSP: o.RTSPAddr()})
	}
	return o.Run(ctx)
}

func runEdge(ctx context.Context, args []string, env Env) (err error) {
	path, err := parseFlags("edge", args, env)
	if err != nil {
		return err
	}
	cfg := edgeConfig{Config: edge.DefaultConfig(), Checkout: checkout.Defaults()}
	if err := config.Load(path, &cfg, withAliases(env.lookup())); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := newLogger(env.Stderr, cfg.LogLevel)
	reg := prometheus.NewRegistry()
	store, err := openCheckoutStore(ctx, cfg.Checkout, cfg.DataDir, log)
	if err != nil {
		return err
	}
	var services []httpnode.Service
	if store != nil {
		defer func() { err = errors.Join(err, store.Close()) }()
		ce, err := newEdgeCheckout(log, reg, cfg.Checkout, store, cfg.DataDir, cfg.ID(), cfg.Region)
		if err != nil {
			return err
		}
		services = append(services, ce)
	}
	ui, err := webui.New()
	if err != nil {
		return err
	}
	e, err := edge.New(edge.Params{Config: cfg.Config, Logger: log, Registry: reg, Routes: ui.Register, Services: services})
	if err != nil {
		return err
	}
	if env.Ready != nil {
		env.Ready(Addrs{EdgeHTTP: e.HTTPAddr()})
	}
	return e.Run(ctx)
}
