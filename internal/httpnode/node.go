// Package httpnode is the HTTP shell every livedrop node runs: its routes,
// /metrics, /healthz and /readyz, the services mounted on it, the server's
// limits (timeouts, header size, TLS) and the graceful drain on shutdown.
package httpnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
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

// Readier is a part of a node that is not always ready (an edge's checkout
// replays its journal first, and needs its store). /readyz answers 503
// with the first refusal's reason until every one is ready; a ready
// Readier may still give a reason (a degraded mode), which /readyz shows.
// Ready is called for each /readyz request: it must be cheap.
type Readier interface {
	Ready(ctx context.Context) (ok bool, reason string)
}

// Params build a Node.
type Params struct {
	Addr     string
	Listener net.Listener // used instead of listening on Addr when set
	Logger   *slog.Logger
	Registry *prometheus.Registry
	Grace    time.Duration
	// Settings are the server's limits and TLS; zero HTTP keys take the
	// defaults.
	Settings Settings
	Services []Service
	// Checks are Readiers beyond the services (an edge's origin link).
	Checks []Readier
	Routes func(mux *http.ServeMux)
	// CORSOrigins are browser origins (lower-case scheme://host[:port])
	// whose pages may call this node's routes: an edge's siblings.
	CORSOrigins []string
}

// Node is a listening HTTP server with its services.
type Node struct {
	p     Params
	ln    net.Listener
	srv   *http.Server
	ready atomic.Bool
	log   *slog.Logger
	tls   bool
	m     *metrics
	// lastReady is the last /readyz answer, to log its changes only.
	lastReady atomic.Value
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
	m, err := newMetrics(p.Registry)
	if err != nil {
		ln.Close()
		return nil, err
	}
	set := p.Settings.withDefaults()
	n := &Node{p: p, ln: ln, log: p.Logger, m: m}
	var tlsCfg *tls.Config
	if set.TLSCertFile != "" || set.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(set.TLSCertFile, set.TLSKeyFile)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("tls_cert_file, tls_key_file: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		n.tls = true
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{Registry: p.Registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", n.serveReady)
	if p.Routes != nil {
		p.Routes(mux)
	}
	for _, s := range p.Services {
		s.Register(mux)
	}
	n.srv = &http.Server{
		Handler:           n.guard(withCORS(p.CORSOrigins, mux)),
		ReadHeaderTimeout: set.HTTPReadHeaderTimeout,
		ReadTimeout:       set.HTTPReadTimeout,
		WriteTimeout:      set.HTTPWriteTimeout,
		IdleTimeout:       set.HTTPIdleTimeout,
		MaxHeaderBytes:    set.HTTPMaxHeaderBytes,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(p.Logger.Handler(), slog.LevelWarn),
	}
	return n, nil
}

// serveReady is /readyz: 200 "ready" when the node and every Readier are,
// else 503 "not ready: <reason>".
func (n *Node) serveReady(w http.ResponseWriter, r *http.Request) {
	ok, reason := n.readiness(r.Context())
	if state := fmt.Sprint(ok, reason); n.lastReady.Swap(state) != state {
		if ok {
			n.log.Info("ready", "note", reason)
		} else {
			n.log.Warn("not ready", "reason", reason)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		n.m.ready.Set(0)
		http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
		return
	}
	n.m.ready.Set(1)
	if reason != "" {
		_, _ = fmt.Fprintf(w, "ready (%s)\n", reason)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

func (n *Node) readiness(ctx context.Context) (bool, string) {
	if !n.ready.Load() {
		return false, "node starting or draining"
	}
	var notes []string
	checks := n.p.Checks
	for _, s := range n.p.Services {
		if r, ok := s.(Readier); ok {
			checks = append(checks[:len(checks):len(checks)], r)
		}
	}
	for _, c := range checks {
		ok, reason := c.Ready(ctx)
		if !ok {
			if reason == "" {
				reason = "a service is starting"
			}
			return false, reason
		}
		if reason != "" {
			notes = append(notes, reason)
		}
	}
	return true, strings.Join(notes, "; ")
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

// Draining marks the node not ready (/readyz 503 "node starting or
// draining") while it still serves: a load balancer sends new clients
// elsewhere while the node moves its own away, before Run's drain.
func (n *Node) Draining() {
	n.ready.Store(false)
	n.m.ready.Set(0)
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
		serve := n.srv.Serve
		if n.tls {
			serve = func(ln net.Listener) error { return n.srv.ServeTLS(ln, "", "") }
		}
		if err := serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
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
	n.m.ready.Set(0)
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
