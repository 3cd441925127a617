// Package origin is the node camera kits publish to: it ingests RTSP
// (published or pulled), keeps every stream continuous across source
// restarts, and serves the streams over WHEP to edges and over RTSP to
// readers.
package origin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/access"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/httpnode"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/transcode"
	"github.com/livedrop/livedrop/internal/whep"
	"github.com/livedrop/livedrop/internal/whip"
)

// Params build an Origin.
type Params struct {
	Config   Config
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Services add routes and background work (checkout control, overlays).
	Services []httpnode.Service
	// Routes adds more routes (the seller console).
	Routes func(mux *http.ServeMux)
	// HTTPListener and RTSPListener, when set, are used instead of
	// listening on the configured addresses (tests bind port 0).
	HTTPListener net.Listener
	RTSPListener net.Listener
	// Events feeds the "events" data channel of each edge's session.
	Events whep.EventFeed
	// Streams, when set, is told the origin's streams as they come and go,
	// for those that read their media clock (the overlay hub, built before
	// the origin it feeds).
	Streams *stream.Registry
	// Guard, when set, is the failure budget RTSP credentials are checked
	// against (the process shares one with its control API); otherwise the
	// origin builds one from Config.AuthGuard.
	Guard *guard.Guard
	// ControlToken, when set, mounts the publish key routes of the
	// control API behind it (the checkout control token).
	ControlToken string
	// Keys, when set, shares publish keys with the other origins.
	Keys KeyStore
	// Views, when set, is told viewer sessions' joins and leaves, the
	// origin's players' and those edges report (the event report's).
	Views whep.ViewSink
}

// Origin is a running origin node.
type Origin struct {
	cfg      Config
	log      *slog.Logger
	metrics  *mediametrics.Metrics
	api      *peer.API
	closeICE func() error
	whep     *whep.Server
	whip     *whip.Server
	guard    *guard.Guard
	keys     *publishKeys
	ffmpeg   string // the transcoder's binary; "" when AAC is dropped
	tcm      *transcode.Metrics
	rtsp     *gortsplib.Server
	node     *httpnode.Node
	access   *access.Policy
	rtspLn   net.Listener
	streams  *stream.Registry

	mu     sync.Mutex
	paths  map[string]*path
	pulled map[string]bool
}

// New builds an origin; Run starts it.
func New(p Params) (*Origin, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	pol, err := access.NewPolicy(p.Config.Access, time.Now)
	if err != nil {
		return nil, err
	}
	log := p.Logger.With("component", "origin")
	base := p.Logger
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
	closeICE = sync.OnceValue(closeICE)
	o := &Origin{
		cfg: p.Config, log: log, metrics: m, api: api, closeICE: closeICE, access: pol,
		paths: map[string]*path{}, pulled: map[string]bool{}, streams: p.Streams,
	}
	if o.streams == nil {
		o.streams = stream.NewRegistry()
	}
	for _, ps := range p.Config.Pull {
		o.pulled[ps.Stream] = true
	}
	o.whep = whep.NewServer(whep.ServerParams{
		API: api, Source: o, Logger: log, Metrics: m, Role: "origin", Region: p.Config.Region,
		Events: p.Events, ICEServers: p.Config.ICE.LinkHeaders(),
		Authorize: pol.WHEP, IsNode: pol.IsNode, Budget: p.Config.WHEP, Views: p.Views,
	})
	if o.tcm, err = transcode.NewMetrics(p.Registry); err != nil {
		_ = closeICE()
		return nil, err
	}
	if p.Config.TranscodeAudio {
		if o.ffmpeg, err = exec.LookPath(p.Config.FFmpegPath); err != nil {
			o.ffmpeg = ""
			log.Warn("ffmpeg not found: AAC audio will be dropped (video still plays); install ffmpeg or set ffmpeg_path",
				"ffmpeg_path", p.Config.FFmpegPath)
		}
	}
	if o.keys, err = loadPublishKeys(p.Config.DataDir, p.Config.PublishKeys); err != nil {
		_ = closeICE()
		return nil, err
	}
	services := p.Services
	if p.Keys != nil {
		o.keys.shared = p.Keys
		services = append(slices.Clip(services), keySync{o})
	}
	// One failure budget for RTSP and WHIP credentials (and, when the
	// process shares it, the control API's token).
	if o.guard = p.Guard; o.guard == nil {
		m, err := guard.NewMetrics(p.Registry)
		if err == nil {
			o.guard, err = guard.New(guard.Params{Config: p.Config.AuthGuard, Logger: base.With("component", "guard"), Metrics: m})
		}
		if err != nil {
			_ = closeICE()
			return nil, err
		}
	}
	o.whip, err = whip.NewServer(whip.ServerParams{
		API: api, Sink: whipSink{o}, Authorize: o.authorizePublish, Logger: base, Registerer: p.Registry,
		ICEServers: p.Config.ICE.LinkHeaders(),
	})
	if err != nil {
		_ = closeICE()
		return nil, err
	}
	rtspLn := p.RTSPListener
	if rtspLn == nil {
		if rtspLn, err = net.Listen("tcp", p.Config.RTSPAddr); err != nil {
			_ = closeICE()
			return nil, fmt.Errorf("rtsp_addr: %w", err)
		}
	}
	o.rtspLn = rtspLn
	rtsp, err := newRTSPServer(p, o, base.With("component", "rtsp"))
	if err != nil {
		rtspLn.Close()
		_ = closeICE()
		return nil, err
	}
	o.rtsp = rtsp
	o.node, err = httpnode.New(httpnode.Params{
		Addr: p.Config.HTTPAddr, Listener: p.HTTPListener, Logger: log, Registry: p.Registry,
		Grace: p.Config.ShutdownGrace, Settings: p.Config.Settings, Services: services,
		Routes: func(mux *http.ServeMux) {
			o.whep.Register(mux)
			o.whip.Register(mux)
			mux.HandleFunc("GET /v1/streams/{stream}/audience", o.handleAudience)
			if p.ControlToken != "" {
				o.registerKeyRoutes(mux, p.ControlToken)
			}
			if p.Routes != nil {
				p.Routes(mux)
			}
		},
	})
	if err != nil {
		rtspLn.Close()
		_ = closeICE()
		return nil, err
	}
	return o, nil
}

// HTTPAddr is the address the HTTP server listens on.
func (o *Origin) HTTPAddr() string { return o.node.Addr() }

// Close releases what New opened (the HTTP and RTSP listeners, the media
// sockets) for an origin that will not Run, because a later part of its
// process failed to start. Run releases them itself; Close after Run, or
// twice, does nothing.
func (o *Origin) Close() error {
	err := o.node.Close()
	if e := o.rtspLn.Close(); e != nil && !errors.Is(e, net.ErrClosed) {
		err = errors.Join(err, e)
	}
	return errors.Join(err, o.closeICE())
}

// RTSPAddr is the address the RTSP server listens on.
func (o *Origin) RTSPAddr() string { return o.rtspLn.Addr().String() }

// WHIPPublishers counts WHIP publisher sessions.
func (o *Origin) WHIPPublishers() int { return o.whip.Publishers() }

// WHEPSessions counts WHEP sessions of a stream ("" for all).
func (o *Origin) WHEPSessions(name string) int { return o.whep.Sessions(name) }

// Run serves until ctx is cancelled, then drains.
func (o *Origin) Run(ctx context.Context) error {
	if err := o.rtsp.Start(); err != nil {
		_ = o.Close()
		return fmt.Errorf("rtsp server: %w", err)
	}
	var wg sync.WaitGroup
	pullCtx, stopPulls := context.WithCancel(ctx)
	for _, ps := range o.cfg.Pull {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.runPull(pullCtx, ps)
		}()
	}
	o.log.Info("origin running", "http", o.HTTPAddr(), "rtsp", o.RTSPAddr())
	err := o.node.Run(ctx, func() {
		// Once HTTP has stopped taking requests: end media sessions and sources.
		stopPulls()
		o.whep.Close()
		o.whip.Close()
		o.rtsp.Close()
		wg.Wait()
		_ = o.closeICE()
	})
	stopPulls()
	return err
}

func (o *Origin) isPulled(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pulled[name]
}

// startSource makes owner the source of the named stream, replacing (and
// closing) a previous RTSP publisher.
func (o *Origin) startSource(name string, owner any, pl *plan) (*path, error) {
	return o.startSourceAs(name, owner, pl, false)
}

// startSourceAs is startSource; exclusive refuses (ErrLive) a stream that
// has a live source instead of replacing it.
func (o *Origin) startSourceAs(name string, owner any, pl *plan, exclusive bool) (*path, error) {
	o.mu.Lock()
	p := o.paths[name]
	if p == nil {
		p = newPath(name, o.log, o.metrics, transcoding{ffmpeg: o.ffmpeg, m: o.tcm})
		o.paths[name] = p
		o.streams.Add(p.st)
		o.metrics.Streams.Set(float64(len(o.paths)))
	}
	o.mu.Unlock()

	p.mu.Lock()
	prev := p.owner
	if exclusive && prev != nil {
		p.mu.Unlock()
		return nil, whip.ErrLive
	}
	if exclusive {
		p.owner = owner // claimed: a concurrent exclusive start sees it
	}
	p.mu.Unlock()
	var srv *gortsplib.Server
	if o.rtsp != nil {
		srv = o.rtsp
	}
	if err := p.attach(owner, pl, srv); err != nil {
		if exclusive {
			p.detach(owner)
		}
		return nil, err
	}
	if prev == nil {
		o.metrics.Publishers.Inc()
	} else if old, ok := prev.(interface{ Close() }); ok {
		// An RTSP session or a WHIP publisher: the newcomer replaces it.
		o.log.Info("new publisher replaces the previous one", "stream", name)
		old.Close()
	}
	return p, nil
}

// stopSource ends owner's turn; the stream stays for its viewers.
func (o *Origin) stopSource(p *path, owner any) {
	if p.detach(owner) {
		o.metrics.Publishers.Dec()
	}
	o.maybeRemove(p.name)
}

// maybeRemove forgets a stream that has neither a source nor viewers.
func (o *Origin) maybeRemove(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.paths[name]
	if p == nil {
		return
	}
	_, online := p.st.State()
	if online || p.st.Readers() > 0 {
		return
	}
	delete(o.paths, name)
	o.streams.Remove(p.st)
	o.metrics.Streams.Set(float64(len(o.paths)))
	p.st.Close()
}

// Acquire implements whep.Source: edges and players get online streams.
func (o *Origin) Acquire(_ context.Context, name string) (*stream.Stream, func(), error) {
	o.mu.Lock()
	p := o.paths[name]
	o.mu.Unlock()
	if p == nil {
		return nil, nil, whep.ErrNotFound
	}
	if _, online := p.st.State(); !online {
		return nil, nil, whep.ErrOffline
	}
	return p.st, func() { o.maybeRemove(name) }, nil
}

// MediaClock returns the RTP timestamp of the video the origin is
// forwarding on a stream now: the media time overlay events are stamped with.
func (o *Origin) MediaClock(name string) (uint32, bool) { return o.streams.MediaClock(name) }

func (o *Origin) rtspStream(name string) *gortsplib.ServerStream {
	o.mu.Lock()
	p := o.paths[name]
	o.mu.Unlock()
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rtsp
}

// runPull dials a camera and redials it with capped backoff until ctx ends.
func (o *Origin) runPull(ctx context.Context, ps PullSource) {
	log := o.log.With("stream", ps.Stream, "component", "pull")
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := o.pullOnce(ctx, ps, log)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 10*time.Second {
			backoff = 250 * time.Millisecond
		}
		log.Warn("camera connection lost, redialing", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (o *Origin) pullOnce(ctx context.Context, ps PullSource, log *slog.Logger) error {
	u, err := base.ParseURL(ps.URL)
	if err != nil {
		return fmt.Errorf("parse url: %w", err)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start2(); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	pl, err := o.planSource(desc, ps.Stream, log)
	if err != nil {
		return err
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	p, err := o.startSource(ps.Stream, c, pl)
	if err != nil {
		return err
	}
	defer o.stopSource(p, c)
	c.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) {
		ntp, _ := c.PacketNTP(medi, pkt) // the camera's sender reports; zero before one
		p.write(c, medi, pkt, ntp)
	})
	if _, err := c.Play(nil); err != nil {
		return fmt.Errorf("play: %w", err)
	}
	log.Info("pulling camera", "url", redact(ps.URL))
	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait() }()
	select {
	case <-ctx.Done():
		c.Close()
		<-waitErr
		return nil
	case err := <-waitErr:
		return err
	}
}

// redact hides the password of a URL for logs.
func redact(raw string) string {
	u, err := base.ParseURL(raw)
	if err != nil {
		return "(invalid url)"
	}
	if u.User != nil {
		u.User = nil
	}
	return u.String()
}
