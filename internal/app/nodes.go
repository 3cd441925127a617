package app

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/config"
	"github.com/livedrop/livedrop/internal/webui"
	"github.com/livedrop/livedrop/origin"
)

func runOrigin(ctx context.Context, args []string, env Env) error {
	path, err := parseFlags("origin", args, env)
	if err != nil {
		return err
	}
	cfg := origin.DefaultConfig()
	if err := config.Load(path, &cfg, env.lookup()); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := newLogger(env.Stderr, cfg.LogLevel)
	o, err := origin.New(origin.Params{Config: cfg, Logger: log, Registry: prometheus.NewRegistry()})
	if err != nil {
		return err
	}
	if env.Ready != nil {
		env.Ready(Addrs{OriginHTTP: o.HTTPAddr(), OriginRTSP: o.RTSPAddr()})
	}
	return o.Run(ctx)
}

func runEdge(ctx context.Context, args []string, env Env) error {
	path, err := parseFlags("edge", args, env)
	if err != nil {
		return err
	}
	cfg := edge.DefaultConfig()
	if err := config.Load(path, &cfg, env.lookup()); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log := newLogger(env.Stderr, cfg.LogLevel)
	ui, err := webui.New()
	if err != nil {
		return err
	}
	e, err := edge.New(edge.Params{Config: cfg, Logger: log, Registry: prometheus.NewRegistry(), Routes: ui.Register})
	if err != nil {
		return err
	}
	if env.Ready != nil {
		env.Ready(Addrs{EdgeHTTP: e.HTTPAddr()})
	}
	return e.Run(ctx)
}
