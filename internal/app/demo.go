package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/camera"
	"github.com/livedrop/livedrop/internal/config"
	"github.com/livedrop/livedrop/internal/httpnode"
	"github.com/livedrop/livedrop/internal/media"
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
	Checkout checkout.Config `yaml:"checkout"`
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
	ec := edge.DefaultConfig()
	return DemoConfig{Stream: "demo", Camera: true, DataDir: "./data/demo", Checkout: checkout.Defaults(),
		Overlay: overlay.Defaults(), SampleDrop: true, Origin: oc, Edge: ec}
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
	return c.Overlay.Validate()
}

// demoAliases lets the variables documented for single nodes configure
// the demo too (LIVEDROP_PUBLISH_PASSWORD rather than
// LIVEDROP_ORIGIN_PUBLISH_PASSWORD).
func demoAliases(c *DemoConfig, lookup func(string) (string, bool)) {
	set := func(name string, dst ...*string) {
		if v, ok := lookup(name); ok {
			for _, d := range dst {
				*d = v
			}
		}
	}
	set("LIVEDROP_PUBLISH_USER", &c.Origin.PublishUser)
	set("LIVEDROP_PUBLISH_PASSWORD", &c.Origin.PublishPassword)
	set("LIVEDROP_RTSP_ADDR", &c.Origin.RTSPAddr)
	set("LIVEDROP_REGION", &c.Edge.Region)
	set("LIVEDROP_REDIS_URL", &c.Checkout.RedisURL)
	set("LIVEDROP_CONTROL_TOKEN", &c.Checkout.ControlToken)
}

func randomSecret() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func runDemo(ctx context.Context, args []string, env Env) (err error) {
	path, err := parseFlags("demo", args, env)
	if err != nil {
		return err
	}
	cfg := DefaultDemoConfig()
	lookup := withAliases(env.lookup())
	if path != "" {
		if err := config.LoadFile(path, &cfg); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	demoAliases(&cfg, lookup)
	if err := config.ApplyEnv(&cfg, lookup); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if cfg.Origin.PublishPassword == "" {
		cfg.Origin.PublishPassword = randomSecret()
	}
	if cfg.Checkout.ControlToken == "" {
		cfg.Checkout.ControlToken = randomSecret() + randomSecret()
	}
	cfg.Origin.DataDir = filepath.Join(cfg.DataDir, "origin")
	cfg.Edge.DataDir = filepath.Join(cfg.DataDir, "edge")
	// The edge pulls from this process's origin.
	originLn, err := net.Listen("tcp", cfg.Origin.HTTPAddr)
	if err != nil {
		return fmt.Errorf("origin.http_addr: %w", err)
	}
	cfg.Edge.OriginURL = "http://" + loopbackAddr(originLn.Addr())
	if err := cfg.Validate(); err != nil {
		originLn.Close()
		return fmt.Errorf("config: %w", err)
	}
	log := newLogger(env.Stderr, cfg.Origin.LogLevel)

	store, err := checkout.OpenStore(ctx, cfg.Checkout, cfg.DataDir, log)
	if err != nil {
		originLn.Close()
		return fmt.Errorf("checkout: %w", err)
	}
	defer func() { err = errors.Join(err, store.Close()) }()
	originReg, edgeReg := prometheus.NewRegistry(), prometheus.NewRegistry()
	var (
		clock func(string) (uint32, bool)
		mapTS func(string, uint32) uint32
	)
	originHub, originOverlay, err := originOverlays(log, originReg, cfg.Overlay, store, cfg.Checkout.ControlToken, &clock)
	if err != nil {
		originLn.Close()
		return err
	}
	ctl, err := newControlCheckout(log, originReg, cfg.Checkout, store, originHub.NotifyDropState)
	if err != nil {
		originLn.Close()
		return err
	}
	orders, err := newEdgeCheckout(log, edgeReg, cfg.Checkout, store, cfg.Edge.DataDir, cfg.Edge.ID(), cfg.Edge.Region)
	if err != nil {
		originLn.Close()
		return err
	}
	edgeHub, edgeOverlay, err := edgeOverlays(log, edgeReg, cfg.Overlay, orders.edge, &mapTS)
	if err != nil {
		originLn.Close()
		return err
	}
	ui, err := webui.New()
	if err != nil {
		originLn.Close()
		return err
	}
	o, err := origin.New(origin.Params{
		Config: cfg.Origin, Logger: log, Registry: originReg, HTTPListener: originLn,
		Services: []httpnode.Service{ctl, originOverlay}, Routes: ui.RegisterConsole, Events: originHub,
	})
	if err != nil {
		originLn.Close()
		return err
	}
	clock = o.MediaClock
	e, err := edge.New(edge.Params{
		Config: cfg.Edge, Logger: log, Registry: edgeReg, Routes: ui.Register,
		Services: []httpnode.Service{orders, edgeOverlay},
		Events:   edgeHub, OnUpstreamEvent: ingestInto(edgeHub, log), OnUpstreamGone: edgeHub.Forget,
	})
	if err != nil {
		return err
	}
	mapTS = e.MapTS
	if cfg.SampleDrop {
		if err := seedSampleDrop(ctx, ctl.ctl, cfg.Stream); err != nil {
			return fmt.Errorf("sample drop: %w", err)
		}
	}
	var cam *camera.Camera
	if cfg.Camera {
		cam, err = camera.New(camera.Params{
			URL:  "rtsp://" + loopbackAddr(mustTCPAddr(o.RTSPAddr())) + "/" + cfg.Stream,
			User: cfg.Origin.PublishUser, Password: cfg.Origin.PublishPassword,
			Logger: log,
		})
		if err != nil {
			return err
		}
	}

	printDemoBanner(env, cfg, o, e)
	if env.Ready != nil {
		env.Ready(Addrs{OriginHTTP: o.HTTPAddr(), OriginRTSP: o.RTSPAddr(), EdgeHTTP: e.HTTPAddr()})
	}

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
	run("origin", o.Run)
	run("edge", e.Run)
	if cam != nil {
		run("camera", func(ctx context.Context) error {
			// Give the origin a moment to accept RTSP before the first dial;
			// the camera redials anyway if it is not ready.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			return cam.Run(ctx)
		})
	}
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
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
  Seller console: %[2]s/console   (token %[9]s)
  Control API:    %[2]s/v1/drops   (Authorization: Bearer <token>)
  Orders:         %[1]s/v1/drops/{drop}/orders
  Inventory:      %[10]s%[11]s

Press Ctrl-C to stop.

`, edgeURL, originURL, rtsp, cfg.Stream, cfg.Origin.PublishUser, cfg.Origin.PublishPassword,
		hostForHumans(o.RTSPAddr()), onOff(cfg.Camera), cfg.Checkout.ControlToken, storeKind(cfg), sampleLine(cfg))
}

func storeKind(cfg DemoConfig) string {
	if cfg.Checkout.RedisURL != "" {
		return "Redis (" + redactURL(cfg.Checkout.RedisURL) + ")"
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
