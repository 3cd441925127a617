package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/checkout/wallet"
	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/camera"
	"github.com/livedrop/livedrop/internal/config"
	"github.com/livedrop/livedrop/internal/httpnode"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/viewlog"
	"github.com/livedrop/livedrop/internal/webui"
	"github.com/livedrop/livedrop/origin"
	"github.com/livedrop/livedrop/overlay"
)

// DemoConfig is the all-in-one demo's configuration (configs/demo.yaml).
type DemoConfig struct {
	// Stream is the name the built-in camera publishes.
	Stream string `yaml:"stream"`
	// Camera runs the built-in camera; turn it off to publish your own.
	Camera bool `yaml:"camera"`
	// DataDir holds the nodes' data (origin/ and edge/ under it).
	DataDir string `yaml:"data_dir"`
	// Checkout is shared by the demo's origin (control API) and edge
	// (orders): an embedded store under data_dir unless redis_url is set.
	Checkout checkoutConfig `yaml:"checkout"`
	// Buyer is the edge's sign-in: sessions, codes, the mail relay.
	Buyer buyerConfig `yaml:"buyer"`
	// Overlay configures both nodes' overlay hubs.
	Overlay overlay.Config `yaml:"overlay"`
	// SampleDrop seeds a drop with three products on the stream at start
	// (once: it is kept in the store).
	SampleDrop bool          `yaml:"sample_drop"`
	Origin     origin.Config `yaml:"origin"`
	Edge       edge.Config   `yaml:"edge"`
}

// DefaultDemoConfig returns the defaults: edge on :8080, origin on :8081,
// RTSP on :8554, stream "demo".
func DefaultDemoConfig() DemoConfig {
	oc := origin.DefaultConfig()
	oc.RTSPUDPRTPAddr, oc.RTSPUDPRTCPAddr = "", ""
	// The demo's stream is for everyone to see: RTSP reading stays open.
	oc.RTSPReadOpen = true
	ec := edge.DefaultConfig()
	// loadgen viewers run on the demo's host: one address may hold them all.
	ec.WHEP.MaxSessionsPerIP, ec.WHEP.OffersPerSecondPerIP, ec.WHEP.OfferBurstPerIP = ec.WHEP.MaxSessions, 1000, 2000
	// One edge: nowhere to move its viewers when it stops.
	ec.MoveGrace = 0
	return DemoConfig{Stream: "demo", Camera: true, DataDir: "./data/demo", Checkout: checkoutConfig{Config: checkout.Defaults()},
		Buyer: defaultBuyerConfig(), Overlay: overlay.Defaults(), SampleDrop: true, Origin: oc, Edge: ec}
}

// Validate checks the configuration; errors name the YAML key.
func (c *DemoConfig) Validate() error {
	if !media.ValidName(c.Stream) {
		return fmt.Errorf("stream: %q must match %s", c.Stream, media.NamePattern)
	}
	if c.DataDir == "" {
		return errors.New("data_dir: must be set")
	}
	if err := c.Origin.Validate(); err != nil {
		return fmt.Errorf("origin.%w", err)
	}
	if err := c.Edge.Validate(); err != nil {
		return fmt.Errorf("edge.%w", err)
	}
	if err := c.Checkout.Validate(); err != nil {
		return err
	}
	if err := c.Buyer.Validate(); err != nil {
		return err
	}
	return c.Overlay.Validate()
}

// demoAliases let the variables documented for single nodes configure the
// demo too (LIVEDROP_PUBLISH_PASSWORD rather than
// LIVEDROP_ORIGIN_PUBLISH_PASSWORD).
var demoAliases = config.Aliases{
	"LIVEDROP_ORIGIN_PUBLISH_USER":     "LIVEDROP_PUBLISH_USER",
	"LIVEDROP_ORIGIN_PUBLISH_PASSWORD": "LIVEDROP_PUBLISH_PASSWORD",
	"LIVEDROP_ORIGIN_RTSP_ADDR":        "LIVEDROP_RTSP_ADDR",
	"LIVEDROP_EDGE_REGION":             "LIVEDROP_REGION",
	"LIVEDROP_CHECKOUT_REDIS_URL":      "LIVEDROP_REDIS_URL",
	"LIVEDROP_CHECKOUT_CONTROL_TOKEN":  "LIVEDROP_CONTROL_TOKEN",
	// One node secret for the demo's origin and edge.
	"LIVEDROP_ORIGIN_ACCESS_NODE_SECRETS": "LIVEDROP_NODE_SECRET",
	"LIVEDROP_EDGE_ACCESS_NODE_SECRETS":   "LIVEDROP_NODE_SECRET",
	"LIVEDROP_BUYER_SESSION_SECRETS":      "LIVEDROP_SESSION_SECRET",
}

func randomSecret() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func runDemo(ctx context.Context, args []string, env Env) error {
	cfg, err := loadDemoConfig(args, env)
	if err != nil {
		return err
	}
	d, err := startDemo(ctx, cfg, newLogger(env.Stderr, cfg.Origin.LogLevel))
	if err != nil {
		return err
	}
	printDemoBanner(env, cfg, d.origin, d.edge)
	if env.Ready != nil {
		env.Ready(Addrs{OriginHTTP: d.origin.HTTPAddr(), OriginRTSP: d.origin.RTSPAddr(), EdgeHTTP: d.edge.HTTPAddr()})
	}
	return d.run(ctx)
}

// loadDemoConfig reads the demo's flags, file and environment, and fills
// in what the demo makes up itself (secrets, the nodes' data dirs).
func loadDemoConfig(args []string, env Env) (DemoConfig, error) {
	flags, err := parseFlags("demo", args, env)
	if err != nil {
		return DemoConfig{}, err
	}
	cfg := DefaultDemoConfig()
	if flags.config != "" {
		if err := config.LoadFile(flags.config, &cfg); err != nil {
			return DemoConfig{}, fmt.Errorf("config: %w", err)
		}
	}
	if err := config.ApplyEnv(&cfg, demoAliases.Lookup(env.lookup())); err != nil {
		return DemoConfig{}, fmt.Errorf("config: %w", err)
	}
	if cfg.Origin.PublishPassword == "" {
		cfg.Origin.PublishPassword = randomSecret()
	}
	if cfg.Checkout.ControlToken == "" {
		cfg.Checkout.ControlToken = randomSecret() + randomSecret()
	}
	// The demo's edge and origin share one node secret, made up unless given.
	switch o, e := &cfg.Origin.Access.NodeSecrets, &cfg.Edge.Access.NodeSecrets; {
	case len(*o) == 0 && len(*e) == 0:
		*o = []string{randomSecret() + randomSecret()}
		*e = *o
	case len(*e) == 0:
		*e = *o
	case len(*o) == 0:
		*o = *e
	}
	// Buyer sessions: signed with a secret made up per run unless given
	// (sessions of an earlier run are then refused: sign in again).
	if len(cfg.Buyer.SessionSecrets) == 0 {
		cfg.Buyer.SessionSecrets = []string{randomSecret() + randomSecret()}
	}
	cfg.Origin.DataDir = filepath.Join(cfg.DataDir, "origin")
	cfg.Edge.DataDir = filepath.Join(cfg.DataDir, "edge")
	return cfg, nil
}

// demo is the demo's parts, started and not yet running.
type demo struct {
	store  checkout.Store
	buyers buyer.Store // the buyers beside the store: members, sign-in
	// lots are the live auctions' lots, shared by origin and edge.
	lots    auction.Store
	origin  *origin.Origin
	edge    *edge.Edge
	camera  *camera.Camera // nil when off
	wallets wallet.Store   // the wallets beside the store: edge spends, origin refunds
	gives   giveaway.Store // the giveaways, shared by origin and edge
}

// startDemo builds the store, the origin, the edge and the camera, all or
// nothing: if a part fails, what was built before it is closed again (its
// listeners and sockets too) before the error returns.
func startDemo(ctx context.Context, cfg DemoConfig, log *slog.Logger) (_ *demo, err error) {
	var undo undoStack
	defer func() {
		if err != nil {
			err = errors.Join(err, undo.run())
		}
	}()
	// A bad key is reported before anything listens. The edge pulls from
	// this process's origin, at the address it then listens on.
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	originLn, err := net.Listen("tcp", cfg.Origin.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("origin.http_addr: %w", err)
	}
	undo.push(func() error { return ignoreClosed(originLn.Close()) })
	cfg.Edge.OriginURL = "http://" + loopbackAddr(originLn.Addr())
	d := &demo{}
	if d.store, err = checkout.OpenStore(ctx, cfg.Checkout.Config, cfg.DataDir, log); err != nil {
		return nil, fmt.Errorf("checkout: %w", err)
	}
	undo.push(d.store.Close)
	d.buyers = buyerStore(d.store) // one for the origin's member list and the edge's sign-in
	d.lots = auctionStore(d.store)
	d.wallets = walletStore(d.store) // one for the edge's spends and the origin's refunds
	d.gives = giveawayStore(d.store)
	ui, err := webui.New()
	if err != nil {
		return nil, err
	}
	ctl, err := d.startOrigin(cfg, log, ui, originLn)
	if err != nil {
		return nil, err
	}
	undo.push(d.origin.Close)
	if err := d.startEdge(cfg, log, ui); err != nil {
		return nil, err
	}
	undo.push(d.edge.Close)
	if cfg.SampleDrop {
		if err := seedSampleDrop(ctx, ctl, cfg.Stream); err != nil {
			return nil, fmt.Errorf("sample drop: %w", err)
		}
	}
	if cfg.Camera {
		d.camera, err = camera.New(camera.Params{
			URL:  "rtsp://" + loopbackAddr(mustTCPAddr(d.origin.RTSPAddr())) + "/" + cfg.Stream,
			User: cfg.Origin.PublishUser, Password: cfg.Origin.PublishPassword,
			Logger: log,
		})
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

// startOrigin builds the demo's origin with the control API and the
// overlays on it, serving on ln.
func (d *demo) startOrigin(cfg DemoConfig, log *slog.Logger, ui *webui.UI, ln net.Listener) (*checkout.Control, error) {
	reg, streams := prometheus.NewRegistry(), stream.NewRegistry()
	g, err := newGuard(log, reg, cfg.Origin.AuthGuard)
	if err != nil {
		return nil, err
	}
	hub, overlays, err := originOverlays(log, reg, cfg.Overlay, d.store, cfg.Checkout.ControlToken, streams, g)
	if err != nil {
		return nil, err
	}
	ctl, err := newControlCheckout(log, reg, cfg.Checkout, d.store, d.buyers, hub.NotifyDropState, g, cfg.Origin.Access.NodeSecrets, d.wallets)
	if err != nil {
		return nil, err
	}
	lots, err := newControlAuction(log, reg, cfg.Checkout, d.lots, d.store, g, hub, ctl.pay)
	if err != nil {
		return nil, err
	}
	views, err := viewlog.New(viewlog.Params{Registerer: reg})
	if err != nil {
		return nil, err
	}
	ctl.api.SetViews(views) // the report's viewer figures
	gives, err := newControlGiveaways(log, reg, cfg.Checkout, d.gives, d.store, g, hub)
	if err != nil {
		return nil, err
	}
	ctl.reportFormats(d.lots, d.gives) // the report's sale formats
	d.origin, err = origin.New(origin.Params{
		Views:  views,
		Config: cfg.Origin, Logger: log, Registry: reg, HTTPListener: ln,
		Services: []httpnode.Service{ctl, overlays, lots, gives}, Routes: ui.RegisterConsole, Events: hub, Streams: streams, Guard: g, ControlToken: cfg.Checkout.ControlToken,
	})
	if err != nil {
		return nil, err
	}
	return ctl.ctl, nil
}

// startEdge builds the demo's edge with its orders and overlays.
func (d *demo) startEdge(cfg DemoConfig, log *slog.Logger, ui *webui.UI) error {
	reg, streams := prometheus.NewRegistry(), stream.NewRegistry()
	orders, err := newEdgeCheckout(log, reg, cfg.Checkout.Config, cfg.Buyer, d.store, d.buyers, cfg.Edge.DataDir, cfg.Edge.ID(), cfg.Edge.Region, cfg.Edge.Access.NodeSecrets, cfg.Edge.Proof, d.wallets)
	if err != nil {
		return err
	}
	hub, overlays, err := edgeOverlays(log, reg, cfg.Overlay, orders.edge, streams)
	if err != nil {
		return err
	}
	lots, err := newEdgeAuction(log, reg, cfg.Checkout, d.lots, orders)
	if err != nil {
		return err
	}
	gives, err := newEdgeGiveaways(log, reg, d.gives, orders)
	if err != nil {
		return err
	}
	d.edge, err = edge.New(edge.Params{
		Config: cfg.Edge, Logger: log, Registry: reg, Routes: ui.Register,
		Services: []httpnode.Service{orders, overlays, lots, gives},
		Events:   hub, OnUpstreamEvent: ingestInto(hub, log), OnUpstreamGone: hub.Forget, Streams: streams,
		Proofs: orders.proofs(),
	})
	return err
}

// run serves until ctx is cancelled or a part fails, then stops every part
// and closes the store.
func (d *demo) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("origin", d.origin.Run)
	run("edge", d.edge.Run)
	if d.camera != nil {
		run("camera", func(ctx context.Context) error {
			// Give the origin a moment to accept RTSP before the first dial;
			// the camera redials anyway if it is not ready.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			return d.camera.Run(ctx)
		})
	}
	wg.Wait()
	close(errs)
	return errors.Join(append(collect(errs), d.store.Close())...)
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

func mustTCPAddr(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	}
	return a
}

// loopbackAddr turns a wildcard listen address into one this host can dial.
func loopbackAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
}

func printDemoBanner(env Env, cfg DemoConfig, o *origin.Origin, e *edge.Edge) {
	edgeURL := "http://" + hostForHumans(e.HTTPAddr())
	originURL := "http://" + hostForHumans(o.HTTPAddr())
	rtsp := "rtsp://" + hostForHumans(o.RTSPAddr()) + "/" + cfg.Stream
	fmt.Fprintf(env.Stdout, `
livedrop demo is running.

  Viewer page:    %[1]s/watch/%[4]s
  WHEP endpoint:  %[1]s/whep/%[4]s   (any WHEP player)
  Origin:         %[2]s   (metrics: %[2]s/metrics)
  Edge metrics:   %[1]s/metrics
  RTSP publish:   %[3]s
      user %[5]q, password %[6]q
      e.g. ffmpeg -re -i clip.mp4 -c copy -rtsp_transport tcp -f rtsp rtsp://%[5]s:%[6]s@%[7]s/%[4]s
  Built-in camera: %[8]s
  Go live (WHIP): %[2]s/golive/{stream} in a browser, or OBS: server %[2]s/whip/{stream},
      Bearer token = the password above
  Seller console: %[2]s/console   (token %[9]s)
  Control API:    %[2]s/v1/drops   (Authorization: Bearer <token>)
  Orders:         %[1]s/v1/drops/{drop}/orders   (Authorization: Bearer <session> from /v1/signin/guest)
  Buyer sign-in:  %[12]s
  Inventory:      %[10]s%[11]s

Press Ctrl-C to stop.

`, edgeURL, originURL, rtsp, cfg.Stream, cfg.Origin.PublishUser, cfg.Origin.PublishPassword,
		hostForHumans(o.RTSPAddr()), onOff(cfg.Camera), cfg.Checkout.ControlToken, storeKind(cfg), sampleLine(cfg), signInLine(cfg))
}

func signInLine(cfg DemoConfig) string {
	if cfg.Buyer.SMTP.Addr == "" {
		return "email codes are printed in this log (set LIVEDROP_BUYER_SMTP_ADDR to mail them), or continue as guest"
	}
	return "email codes are mailed through " + cfg.Buyer.SMTP.Addr + ", or continue as guest"
}

func storeKind(cfg DemoConfig) string {
	if cfg.Checkout.RedisURL != "" {
		return "Redis (" + redactURL(cfg.Checkout.RedisURL) + ")"
	}
	if r := cfg.Checkout.Redis; r.Used() {
		return "Redis " + r.Mode + " (" + strings.Join(r.Addrs, ",") + ")"
	}
	return "embedded store under " + cfg.DataDir
}

// redactURL drops the password from a URL for display.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return u.Redacted()
}

func onOff(b bool) string {
	if b {
		return "publishing the shipped clip to " + "the stream above"
	}
	return "off"
}

func hostForHumans(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip == nil || ip.IsUnspecified() || ip.IsLoopback() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// SampleDropID is the drop the demo seeds.
const SampleDropID = "demo-drop"

func sampleLine(cfg DemoConfig) string {
	if !cfg.SampleDrop {
		return ""
	}
	return "\n  Sample drop:    " + SampleDropID + " (tee, cap, tote; open): pin one in the console, then buy on the viewer page"
}

// seedSampleDrop creates and opens the demo's drop unless the store has it.
func seedSampleDrop(ctx context.Context, ctl *checkout.Control, stream string) error {
	if _, err := ctl.Totals(ctx, SampleDropID); err == nil {
		return nil // kept from an earlier run
	} else if checkout.ClassOf(err) != checkout.ClassNotFound {
		return err
	}
	_, err := ctl.CreateDrop(ctx, checkout.Drop{ID: SampleDropID, Stream: stream, SKUs: []checkout.SKU{
		{SKU: "tee", Name: "Drop Tee — Black", PriceCents: 2500, Currency: "EUR", Stock: 100, MaxPerBuyer: 2},
		{SKU: "cap", Name: "Logo Cap", PriceCents: 1800, Currency: "EUR", Stock: 50, MaxPerBuyer: 1},
		{SKU: "tote", Name: "Canvas Tote", PriceCents: 1200, Currency: "EUR", Stock: 200, MaxPerBuyer: 3},
	}})
	if err != nil {
		return err
	}
	return ctl.Open(ctx, SampleDropID)
}
