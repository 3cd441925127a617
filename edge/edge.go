// Package edge is the node viewers connect to: it pulls each stream from
// its origin (or from another edge) over WHEP when the first viewer
// arrives, shares that one upstream connection among all its viewers, and
// serves them over WHEP.
package edge

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/access"
	"github.com/livedrop/livedrop/internal/httpnode"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/viewlog"
	"github.com/livedrop/livedrop/internal/whep"
)

// Params build an Edge.
type Params struct {
	Config   Config
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Services add routes and background work (checkout, overlays).
	Services []httpnode.Service
	// Routes adds more routes (the viewer page).
	Routes       func(mux *http.ServeMux)
	HTTPListener net.Listener
	// Events feeds the viewers' "events" data channels (overlays).
	Events whep.EventFeed
	// OnUpstreamEvent receives each message of a stream's upstream events
	// channel, in order; a reconnect starts with a fresh state message.
	OnUpstreamEvent func(stream string, msg []byte)
	// OnUpstreamGone is told when the edge stops pulling a stream for good
	// (no viewers left), not on a reconnect.
	OnUpstreamGone func(stream string)
	// Proofs, when its Gate is set, serves the proofs gated drops ask of
	// buyers: GET /v1/watch-proof and GET /v1/pow-challenge (proofs.go).
	Proofs Proofs
	// Streams, when set, is told the streams the edge pulls as they come
	// and go, for those that map upstream media time onto the edge's (the
	// overlay hub, built before the edge it feeds).
	Streams *stream.Registry
}

// Edge is a running edge node.
type Edge struct {
	cfg      Config
	log      *slog.Logger
	metrics  *mediametrics.Metrics
	api      *peer.API // viewers' sessions, on the node's media port
	pullAPI  *peer.API // upstream pulls, a socket each
	closeICE func() error
	whep     *whep.Server
	node     *httpnode.Node
	http     *http.Client
	access   *access.Policy
	origins  *origins

	onEvent func(stream string, msg []byte)
	onGone  func(stream string)
	streams *stream.Registry

	views *viewlog.Book // viewer joins and leaves for upstream (views.go)

	wg    sync.WaitGroup // the pulls' goroutines
	moves *moveMetrics

	mu      sync.Mutex
	running bool // between Run's start and its drain: pulls may start
	pulls   map[string]*pull
}

// New builds an edge; Run starts it.
func New(p Params) (*Edge, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Proofs.Gate != nil && p.Proofs.BuyerOf == nil {
		return nil, errors.New("edge: proofs need BuyerOf")
	}
	pol, err := access.NewPolicy(p.Config.Access, time.Now)
	if err != nil {
		return nil, err
	}
	log := p.Logger.With("component", "edge", "region", p.Config.Region)
	m, err := mediametrics.New(p.Registry)
	if err != nil {
		return nil, err
	}
	sent := &peer.SendStats{}
	if err := sent.Register(p.Registry); err != nil {
		return nil, err
	}
	moves, err := newMoveMetrics(p.Registry)
	if err != nil {
		return nil, err
	}
	views, err := viewlog.New(viewlog.Params{Registerer: p.Registry})
	if err != nil {
		return nil, err
	}
	api, closeICE, err := peer.NewAPI(p.Config.ICE, peer.WithSendStats(sent), peer.WithLogger(log))
	if err != nil {
		return nil, err
	}
	// Pulls get a socket each, not the viewers' UDP port: two pulls from
	// one origin over one port pair would share a 5-tuple, and the
	// origin's ICE mux routes by remote address, so the second stream
	// would get nothing until its ICE failed and it redialled (12 s).
	pullICE := p.Config.ICE
	pullICE.UDPPort, pullICE.TCPPort = 0, 0
	pullAPI, closePullICE, err := peer.NewAPI(pullICE, peer.WithLogger(log))
	if err != nil {
		_ = closeICE()
		return nil, err
	}
	closeViewersICE := closeICE
	closeICE = sync.OnceValue(func() error { return errors.Join(closeViewersICE(), closePullICE()) })
	e := &Edge{
		cfg: p.Config, log: log, metrics: m, api: api, pullAPI: pullAPI, closeICE: closeICE, access: pol,
		pulls:   map[string]*pull{},
		http:    &http.Client{Timeout: 10 * time.Second},
		onEvent: p.OnUpstreamEvent,
		onGone:  p.OnUpstreamGone,
		streams: p.Streams,
		moves:   moves,
		views:   views,
	}
	if e.streams == nil {
		e.streams = stream.NewRegistry()
	}
	e.origins = newOrigins(p.Config.Origins(), e.http)
	e.whep = whep.NewServer(whep.ServerParams{
		API: api, Source: e, Logger: log, Metrics: m, Role: "edge", Region: p.Config.Region,
		QueueSize: p.Config.QueueSize, NoGOPStart: !p.Config.GOPStart, AudioHold: p.Config.AudioHold, Events: p.Events, ICEServers: p.Config.ICE.LinkHeaders(),
		Authorize: pol.WHEP, IsNode: pol.IsNode, Budget: p.Config.WHEP, Views: views,
	})
	e.node, err = httpnode.New(httpnode.Params{
		Addr: p.Config.HTTPAddr, Listener: p.HTTPListener, Logger: log, Registry: p.Registry,
		Grace: p.Config.ShutdownGrace, Settings: p.Config.Settings, Services: p.Services, CORSOrigins: p.Config.MoveTargets(),
		Checks: []httpnode.Readier{newOriginLink(p.Config.Origins(), e.http)},
		Routes: func(mux *http.ServeMux) {
			e.whep.Register(mux)
			if p.Proofs.Gate != nil {
				e.registerProofs(mux, p.Proofs)
			}
			if p.Routes != nil {
				p.Routes(mux)
			}
		},
	})
	if err != nil {
		_ = closeICE()
		return nil, err
	}
	return e, nil
}

// HTTPAddr is the address the HTTP server listens on.
func (e *Edge) HTTPAddr() string { return e.node.Addr() }

// Close releases what New opened (the HTTP listener, the media sockets) for
// an edge that will not Run, because a later part of its process failed to
// start. Run releases them itself; Close after Run, or twice, does nothing.
func (e *Edge) Close() error {
	return errors.Join(e.node.Close(), e.closeICE())
}

// WHEPSessions counts viewer sessions of a stream ("" for all).
func (e *Edge) WHEPSessions(name string) int { return e.whep.Sessions(name) }

// Upstreams counts the streams this edge is pulling.
func (e *Edge) Upstreams() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pulls)
}

// Run serves until ctx is cancelled, then drains: it tells its viewers to
// move to a sibling and gives them move_grace to, still serving, then stops
// taking requests and closes what is left.
func (e *Edge) Run(ctx context.Context) error {
	e.mu.Lock()
	e.running = true
	e.mu.Unlock()
	defer e.stopPulls()
	e.log.Info("edge running", "http", e.HTTPAddr(), "origins", e.cfg.Origins())
	// The node runs until the viewers moved; a node that fails stops this
	// goroutine through serving's end.
	serving, stop := context.WithCancel(context.WithoutCancel(ctx))
	moved := make(chan struct{})
	go func() {
		defer close(moved)
		select {
		case <-ctx.Done():
			e.moveViewers()
			stop()
		case <-serving.Done():
		}
	}()
	defer func() { stop(); <-moved }()
	return e.node.Run(serving, func() {
		e.whep.Close()
		e.stopPulls()
		e.wg.Wait()
		_ = e.closeICE()
	})
}

// stopPulls ends every upstream pull and refuses new ones: the edge is
// draining. The pulls' goroutines are the edge's, counted in e.wg.
func (e *Edge) stopPulls() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running = false
	for _, p := range e.pulls {
		if p.linger != nil {
			p.linger.Stop()
		}
		p.cancel()
	}
}
