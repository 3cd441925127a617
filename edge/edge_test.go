package edge

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/access"
	"github.com/livedrop/livedrop/internal/leakcheck"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/whep"
)

// TestMain fails the package when a goroutine of an edge outlives the
// tests.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "edge.(*Edge)")
}

// fixedSource serves one online stream.
type fixedSource struct{ st *stream.Stream }

func (s fixedSource) Acquire(context.Context, string) (*stream.Stream, func(), error) {
	return s.st, func() {}, nil
}

// upstream is a WHEP server with one stream, counting the sessions edges
// end (DELETE).
type upstream struct {
	url     string
	srv     *whep.Server
	deletes chan struct{}
}

func startUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	m, err := mediametrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	ice := peer.DefaultICEConfig()
	api, closeICE, err := peer.NewAPI(ice, peer.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	st := stream.New(name, time.Second)
	st.SetTracks(stream.Tracks{Video: &stream.Codec{MimeType: media.MimeH264, ClockRate: media.VideoClockRate, SDPFmtpLine: media.H264Fmtp}})
	// It serves edges only, as an origin does: every test's edge proves it
	// presents its node token.
	pol, err := access.NewPolicy(access.Config{NodeSecrets: []string{testNodeSecret}, Viewers: access.Nodes}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := whep.NewServer(whep.ServerParams{API: api, Source: fixedSource{st}, Logger: log, Metrics: m, Role: "origin", Authorize: pol.WHEP})
	mux := http.NewServeMux()
	srv.Register(mux)
	u := &upstream{srv: srv, deletes: make(chan struct{}, 16)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if r.Method == http.MethodDelete {
			u.deletes <- struct{}{}
		}
	}))
	u.url = ts.URL
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
		_ = closeICE()
		st.Close()
	})
	return u
}

const testNodeSecret = "edge-test-node-secret-0123"

func newTestEdge(t *testing.T, originURL string) *Edge {
	t.Helper()
	return newTestEdgeWith(t, originURL, testNodeSecret)
}

func newTestEdgeWith(t *testing.T, originURL, nodeSecret string) *Edge {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Access.NodeSecrets = []string{nodeSecret}
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.OriginURL = originURL
	cfg.DataDir = t.TempDir()
	cfg.ICE.UDPPort = 0
	cfg.ShutdownGrace = time.Second
	e, err := New(Params{Config: cfg, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// acquireWhenRunning calls Acquire until Run has started, within a deadline.
func acquireWhenRunning(t *testing.T, ctx context.Context, e *Edge, name string) (*stream.Stream, func()) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, release, err := e.Acquire(ctx, name)
		if err == nil {
			return st, release
		}
		if time.Now().After(deadline) {
			t.Fatalf("acquire: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestPullOutlivesItsRequestNotTheEdge: a pull started by a viewer's
// request keeps running once that request is over, and stops when the
// edge's Run context ends, with its viewer still attached.
func TestPullOutlivesItsRequestNotTheEdge(t *testing.T) {
	up := startUpstream(t, "s")
	e := newTestEdge(t, up.url)
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- e.Run(runCtx) }()

	reqCtx, endRequest := context.WithCancel(context.Background())
	_, release := acquireWhenRunning(t, reqCtx, e, "s")
	defer release()
	if n := up.srv.Sessions("s"); n != 1 {
		t.Fatalf("upstream sessions %d, want 1", n)
	}
	endRequest()
	// Were the pull tied to the request, it would end its upstream session
	// at once; give it well over the time that takes.
	select {
	case <-up.deletes:
		t.Fatal("the pull ended with the request that started it")
	case <-time.After(time.Second):
	}
	if e.Upstreams() != 1 || up.srv.Sessions("s") != 1 {
		t.Fatalf("pulls %d, upstream sessions %d after the request ended", e.Upstreams(), up.srv.Sessions("s"))
	}

	stop()
	select {
	case <-up.deletes:
	case <-time.After(5 * time.Second):
		t.Fatal("the pull did not end its upstream session when the edge stopped")
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, _, err := e.Acquire(context.Background(), "s"); err == nil {
		t.Fatal("a stopped edge started a pull")
	}
}

// TestAcquireBeforeRunIsRefused: no pull starts before Run.
func TestAcquireBeforeRunIsRefused(t *testing.T) {
	e := newTestEdge(t, "http://127.0.0.1:1")
	_, _, err := e.Acquire(context.Background(), "s")
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want edge not running", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCloseReleasesWhatNewOpened: an edge that never runs gives its HTTP
// port and its media port back on Close, which may be called again.
func TestCloseReleasesWhatNewOpened(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp := c.LocalAddr().String()
	c.Close()
	cfg := DefaultConfig()
	cfg.Access.NodeSecrets = []string{testNodeSecret}
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.ICE.UDPPort = c.LocalAddr().(*net.UDPAddr).Port
	e, err := New(Params{Config: cfg, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	addr := e.HTTPAddr()
	for range 2 {
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("http port still taken: %v", err)
	}
	ln.Close()
	if c, err = net.ListenPacket("udp", udp); err != nil {
		t.Fatalf("media port still taken: %v", err)
	}
	c.Close()
}

// TestEdgeWithAnotherSecretIsRefusedUpstream: an edge whose node secret
// its origin does not hold gets no stream, and says why.
func TestEdgeWithAnotherSecretIsRefusedUpstream(t *testing.T) {
	up := startUpstream(t, "s")
	e := newTestEdgeWith(t, up.url, "not-the-origins-secret-42")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, release, err := e.Acquire(ctx, "s")
		if err == nil {
			release()
			t.Fatal("an edge with a secret its origin does not hold pulled a stream")
		}
		if strings.Contains(err.Error(), "401") && strings.Contains(err.Error(), "node token refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acquire: %v, want the origin's 401 node token refusal", err)
		}
		time.Sleep(10 * time.Millisecond) // Run has not started yet: poll
	}
	if n := up.srv.Sessions("s"); n != 0 {
		t.Fatalf("upstream sessions %d, want 0", n)
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}
