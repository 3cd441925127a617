// Package edge is the node viewers connect to: it pulls each stream from
// its origin (or from another edge) over WHEP when the first viewer
// arrives, shares that one upstream connection among all its viewers, and
// serves them over WHEP.
package edge

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

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/access"
	"github.com/livedrop/livedrop/internal/avc"
	"github.com/livedrop/livedrop/internal/httpnode"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
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

	onEvent func(stream string, msg []byte)
	onGone  func(stream string)
	streams *stream.Registry

	wg sync.WaitGroup // the pulls' goroutines

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
	}
	if e.streams == nil {
		e.streams = stream.NewRegistry()
	}
	e.whep = whep.NewServer(whep.ServerParams{
		API: api, Source: e, Logger: log, Metrics: m, Role: "edge", Region: p.Config.Region,
		QueueSize: p.Config.QueueSize, NoGOPStart: !p.Config.GOPStart, AudioHold: p.Config.AudioHold, Events: p.Events, ICEServers: p.Config.ICE.LinkHeaders(),
		Authorize: pol.WHEP, Budget: p.Config.WHEP,
	})
	e.node, err = httpnode.New(httpnode.Params{
		Addr: p.Config.HTTPAddr, Listener: p.HTTPListener, Logger: log, Registry: p.Registry,
		Grace: p.Config.ShutdownGrace, Settings: p.Config.Settings, Services: p.Services,
		Checks: []httpnode.Readier{newOriginLink(p.Config.OriginURL, e.http)},
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

// Run serves until ctx is cancelled, then drains.
func (e *Edge) Run(ctx context.Context) error {
	e.mu.Lock()
	e.running = true
	e.mu.Unlock()
	defer e.stopPulls()
	e.log.Info("edge running", "http", e.HTTPAddr(), "origin", e.cfg.OriginURL)
	return e.node.Run(ctx, func() {
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

// pull is one stream pulled from upstream, shared by its viewers.
type pull struct {
	name     string
	st       *stream.Stream
	refs     int
	linger   *time.Timer
	cancel   context.CancelFunc
	ready    chan struct{} // closed after the first dial's outcome
	firstErr error
}

// MapTS maps a media time (RTP timestamp) of the upstream's timeline onto
// the timeline this edge's viewers see (they differ after an upstream
// reconnect).
func (e *Edge) MapTS(stream string, ts uint32) uint32 { return e.streams.MapTS(stream, ts) }

// Acquire implements whep.Source: it starts pulling the stream if no
// viewer has yet, and waits for the first dial.
func (e *Edge) Acquire(ctx context.Context, name string) (*stream.Stream, func(), error) {
	e.mu.Lock()
	if !e.running {
		e.mu.Unlock()
		return nil, nil, errors.New("edge not running")
	}
	p := e.pulls[name]
	if p == nil {
		// The pull outlives the request that starts it: it is the edge's,
		// ended by release (no viewers left) or by Run's drain.
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		p = &pull{name: name, st: stream.New(name, time.Second), cancel: cancel, ready: make(chan struct{})}
		e.pulls[name] = p
		e.streams.Add(p.st)
		e.metrics.Streams.Set(float64(len(e.pulls)))
		e.wg.Add(1)
		go e.runPull(pctx, p)
	}
	p.refs++
	if p.linger != nil {
		p.linger.Stop()
		p.linger = nil
	}
	e.mu.Unlock()
	release := func() { e.release(p) }
	select {
	case <-p.ready:
	case <-ctx.Done():
		release()
		return nil, nil, ctx.Err()
	}
	if p.firstErr != nil {
		release()
		return nil, nil, p.firstErr
	}
	return p.st, release, nil
}

func (e *Edge) release(p *pull) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p.refs--
	if p.refs > 0 || e.pulls[p.name] != p {
		return
	}
	stop := func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if p.refs == 0 && e.pulls[p.name] == p {
			e.forget(p)
		}
	}
	if e.cfg.IdleTimeout == 0 {
		e.forget(p)
		return
	}
	p.linger = time.AfterFunc(e.cfg.IdleTimeout, stop)
}

// forget stops pulling p. e.mu is held.
func (e *Edge) forget(p *pull) {
	delete(e.pulls, p.name)
	e.streams.Remove(p.st)
	e.metrics.Streams.Set(float64(len(e.pulls)))
	p.cancel()
	if e.onGone != nil {
		e.onGone(p.name)
	}
	e.log.Info("upstream released: no viewers left", "stream", p.name)
}

// runPull keeps one upstream connection for p until its context ends,
// redialing with capped backoff. Packets keep continuous sequence numbers
// and timestamps across reconnects, so viewers never renegotiate.
func (e *Edge) runPull(ctx context.Context, p *pull) {
	defer e.wg.Done()
	defer p.st.Close()
	up := e.metrics.UpstreamUp.WithLabelValues(p.name)
	defer up.Set(0)
	log := e.log.With("stream", p.name)
	url, err := whep.EndpointURL(e.cfg.OriginURL, p.name)
	if err != nil {
		p.firstErr = err
		close(p.ready)
		return
	}
	var (
		vReb       = stream.Rebaser{ClockRate: media.VideoClockRate}
		audioClock atomic.Uint32
		haveKey    bool
		keyTS      uint32
		aReb       stream.Rebaser
		first      = true
		delay      = 250 * time.Millisecond
		pktsV      = e.metrics.PacketsIn.WithLabelValues(p.name, "video")
		pktsA      = e.metrics.PacketsIn.WithLabelValues(p.name, "audio")
		bytesV     = e.metrics.BytesIn.WithLabelValues(p.name, "video")
		bytesA     = e.metrics.BytesIn.WithLabelValues(p.name, "audio")
	)
	onPacket := func(kind stream.Kind, pkt *rtp.Packet) {
		now := time.Now()
		h := pkt.Header
		h.Extension, h.Extensions, h.CSRC = false, nil, nil
		sp := &stream.Packet{Kind: kind, Payload: pkt.Payload, Arrival: now}
		if kind == stream.Video {
			vReb.Map(&h, now)
			p.st.SetSourceOffset(h.Timestamp - pkt.Timestamp)
			// One keyframe mark per access unit: its first decodable packet.
			if avc.IsKeyframeStart(pkt.Payload) && !(haveKey && h.Timestamp == keyTS) {
				sp.Keyframe, haveKey, keyTS = true, true, h.Timestamp
			}
			pktsV.Inc()
			bytesV.Add(float64(len(pkt.Payload)))
		} else {
			// The audio rebaser belongs to the audio track's goroutine;
			// runPull hands it the clock rate of each new upstream.
			aReb.ClockRate = audioClock.Load()
			aReb.Map(&h, now)
			pktsA.Inc()
			bytesA.Add(float64(len(pkt.Payload)))
		}
		sp.Header = h
		p.st.WritePacket(sp)
	}
	for {
		tok, err := e.access.NodeToken(e.cfg.ID())
		if err != nil {
			log.Error("node token", "err", err) // a signing failure: not expected with HS256
		}
		cp := whep.ClientParams{API: e.pullAPI, URL: url, HTTP: e.http, OnPacket: onPacket, Token: tok}
		if e.onEvent != nil {
			cp.OnEvent = func(msg []byte) { e.onEvent(p.name, msg) }
		}
		c, err := whep.Dial(ctx, cp)
		if err != nil {
			result := "error"
			if errors.Is(err, whep.ErrNotFound) {
				result = "not_found"
			}
			e.metrics.UpstreamDials.WithLabelValues(p.name, result).Inc()
			if ctx.Err() != nil {
				if first {
					p.firstErr = ctx.Err()
					close(p.ready)
				}
				return
			}
			if first {
				if errors.Is(err, whep.ErrNotFound) {
					p.firstErr = whep.ErrNotFound
				} else {
					p.firstErr = fmt.Errorf("upstream %s: %w", e.cfg.OriginURL, err)
				}
				e.mu.Lock()
				if e.pulls[p.name] == p {
					delete(e.pulls, p.name)
					e.streams.Remove(p.st)
					e.metrics.Streams.Set(float64(len(e.pulls)))
				}
				e.mu.Unlock()
				close(p.ready)
				return
			}
			log.Warn("upstream dial failed, retrying", "err", err, "in", delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, 5*time.Second)
			continue
		}
		e.metrics.UpstreamDials.WithLabelValues(p.name, "ok").Inc()
		up.Set(1)
		delay = 250 * time.Millisecond
		tracks := c.Tracks()
		if tracks.Audio != nil {
			audioClock.Store(tracks.Audio.ClockRate)
		}
		p.st.OnKeyframeRequest(func() {
			if c.RequestKeyframe() == nil {
				e.metrics.KeyframeRequests.WithLabelValues("out").Inc()
			}
		})
		p.st.SetTracks(tracks)
		if first {
			first = false
			close(p.ready)
		}
		log.Info("upstream connected", "url", url, "audio", tracks.Audio != nil)
		select {
		case <-ctx.Done():
		case <-c.Done():
			log.Warn("upstream lost, redialing", "err", c.Err())
		}
		up.Set(0)
		p.st.OnKeyframeRequest(nil)
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = c.Close(closeCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
	}
}
