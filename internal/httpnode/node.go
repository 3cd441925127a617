// Package httpnode is the HTTP shell every livedrop node runs: its routes,
// /metrics, /healthz and /readyz, the services mounted on it, and the
// graceful drain on shutdown.
package httpnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Service is a part of a node with routes and background work (checkout,
// overlays). Run owns its goroutines and returns after ctx is cancelled and
// its work is drained.
type Service interface {
	Register(mux *http.ServeMux)
	Run(ctx context.Context) error
}

// Readier is a Service that is not ready at once (an edge's checkout
// replays its journal first). /readyz answers 503 until every one is.
type Readier interface {
	Ready() bool
}

// Params build a Node.
type Params struct {
	Addr     string
	Listener net.Listener // used instead of listening on Addr when set
	Logger   *slog.Logger
	Registry *prometheus.Registry
	Grace    time.Duration
	Services []Service
	Routes   func(mux *http.ServeMux)
}

// Node is a listening HTTP server with its services.
type Node struct {
	p     Params
	ln    net.Listener
	srv   *http.Server
	ready atomic.Bool
	log   *slog.Logger
}

// New listens and builds the routes. Nothing is served until Run.
func New(p Params) (*Node, error) {
	ln := p.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", p.Addr); err != nil {
			return nil, fmt.Errorf("http_addr: %w", err)
		}
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := p.Registry.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			ln.Close()
			return nil, fmt.Errorf("register collectors: %w", err)
		}
	}
	n := &Node{p: p, ln: ln, log: p.Logger}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{Registry: p.Registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !n.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		for _, s := range p.Services {
			if r, ok := s.(Readier); ok && !r.Ready() {
				http.Error(w, "not ready: a service is starting", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if p.Routes != nil {
		p.Routes(mux)
	}
	for _, s := range p.Services {
		s.Register(mux)
	}
	n.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(p.Logger.Handler(), slog.LevelWarn),
	}
	return n, nil
}

// Addr is the listening address.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Close releases the listener of a node that will not Run (a later part of
// its process failed to start). Run closes it itself; Close after Run, or
// twice, does nothing.
func (n *Node) Close() error {
	if err := n.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Run serves until ctx is cancelled or a service fails. On the way out it
// stops taking requests (waiting up to Grace for those in flight), calls
// drain, then stops the services.
func (n *Node) Run(ctx context.Context, drain func()) error {
	svcCtx, stopServices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServices()
	var wg sync.WaitGroup
	failed := make(chan error, len(n.p.Services)+1)
	for _, s := range n.p.Services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(svcCtx); err != nil && !errors.Is(err, context.Canceled) {
				failed <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := n.srv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http server: %w", err)
		}
	}()
	n.ready.Store(true)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
		n.log.Error("node stopping after a failure", "err", runErr)
	}
	n.ready.Store(false)
	shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.p.Grace)
	if err := n.srv.Shutdown(shCtx); err != nil {
		n.log.Warn("http drain cut short", "err", err)
		_ = n.srv.Close()
	}
	cancel()
	if drain != nil {
		drain()
	}
	stopServices()
	wg.Wait()
	return runErr
}
