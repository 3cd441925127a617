// Package e2e runs whole nodes against real components: ffmpeg publishing
// over RTSP, pion WHEP viewers, headless Chromium.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/livedrop/livedrop/internal/chrometest"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/webui"
	"github.com/livedrop/livedrop/internal/whep"
	"github.com/livedrop/livedrop/origin"
)

const (
	pubUser = "seller"
	pubPass = "s3cret-pass"
	// readUser and readPass read RTSP from the tests' origins.
	readUser = "viewer"
	readPass = "r3ad-pass"
	// nodeSecret is shared by the tests' origins and edges.
	nodeSecret = "e2e-node-secret-0123456789"
)

// requireTool fails the test when a real component is missing: make test
// installs them, and CI must never pass by skipping.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run `make test`, which installs the test dependencies", name)
	}
	return p
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("LIVEDROP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// freeUDPPort returns a UDP port free on every address at the time of
// asking (a node's ICE mux binds each interface address, not only
// loopback). Another process may take it before the node binds it: start
// nodes through bindAttempts, which tries again on another port.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// portAttempts is how many fresh ports a node gets before a test gives up.
const portAttempts = 5

// errPortTaken marks a start that failed only because a probed port was
// taken before the node bound it.
var errPortTaken = errors.New("port taken before the node bound it")

// portTaken reports whether err is a failed bind on a port in use.
func portTaken(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, errPortTaken)
}

// bindAttempts calls start, which probes its ports afresh on each call,
// until it does not fail on a port taken in the meantime, and fails the
// test on any other error or after portAttempts tries.
func bindAttempts(t testing.TB, what string, start func() error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		err := start()
		if err == nil {
			return
		}
		if !portTaken(err) || attempt == portAttempts {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s: %v; trying other ports", what, err)
	}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type originNode struct {
	*origin.Origin
	reg     *prometheus.Registry
	udpPort int // the ICE mux port it bound
}

// startOrigin runs an origin until the test ends. mod runs again on each
// attempt: a port it probes inside is probed afresh (bindAttempts).
func startOrigin(t testing.TB, mod func(*origin.Config)) *originNode {
	t.Helper()
	return startOriginWith(t, mod, nil)
}

// startOriginWith is startOrigin with the origin's Params adjusted by pmod
// (a control token, say) before it starts.
func startOriginWith(t testing.TB, mod func(*origin.Config), pmod func(*origin.Params)) *originNode {
	t.Helper()
	dataDir := t.TempDir()
	var n *originNode
	bindAttempts(t, "start origin", func() error {
		cfg := origin.DefaultConfig()
		cfg.HTTPAddr, cfg.RTSPAddr = "127.0.0.1:0", "127.0.0.1:0"
		cfg.RTSPUDPRTPAddr, cfg.RTSPUDPRTCPAddr = "", ""
		// Media on one UDP port of its own, as in production: viewer sessions
		// take the direct send path (the node protects their packets).
		cfg.ICE.UDPPort = freeUDPPort(t)
		cfg.PublishUser, cfg.PublishPassword = pubUser, pubPass
		cfg.ReadUser, cfg.ReadPassword = readUser, readPass
		cfg.Access.NodeSecrets = []string{nodeSecret}
		cfg.DataDir = dataDir
		cfg.ShutdownGrace = 2 * time.Second
		if mod != nil {
			mod(&cfg)
		}
		reg := prometheus.NewRegistry()
		httpLn, rtspLn := listen(t), listen(t)
		ui, err := webui.New()
		if err != nil {
			t.Fatal(err)
		}
		// As the binary does: the console and the go-live page on the origin.
		params := origin.Params{Config: cfg, Logger: testLogger(t), Registry: reg,
			HTTPListener: httpLn, RTSPListener: rtspLn, Routes: ui.RegisterConsole}
		if pmod != nil {
			pmod(&params)
		}
		o, err := origin.New(params)
		if err != nil {
			httpLn.Close()
			rtspLn.Close()
			return err
		}
		n = &originNode{Origin: o, reg: reg, udpPort: cfg.ICE.UDPPort}
		return nil
	})
	runNode(t, n.Run)
	return n
}

type edgeNode struct {
	*edge.Edge
	reg     *prometheus.Registry
	udpPort int // the ICE mux port it bound
}

// startEdge runs an edge until the test ends; mod as in startOrigin.
func startEdge(t testing.TB, upstream string, mod func(*edge.Config)) *edgeNode {
	t.Helper()
	dataDir := t.TempDir()
	ui, err := webui.New()
	if err != nil {
		t.Fatal(err)
	}
	var n *edgeNode
	bindAttempts(t, "start edge", func() error {
		cfg := edge.DefaultConfig()
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.OriginURL = upstream
		cfg.Access.NodeSecrets = []string{nodeSecret}
		// The tests' viewers all come from 127.0.0.1, hundreds at once.
		cfg.WHEP.MaxSessionsPerIP, cfg.WHEP.OffersPerSecondPerIP, cfg.WHEP.OfferBurstPerIP = cfg.WHEP.MaxSessions, 1e4, 1e4
		cfg.DataDir = dataDir
		cfg.Region = "test-region"
		cfg.ICE.UDPPort = freeUDPPort(t) // as startOrigin
		cfg.ShutdownGrace = 2 * time.Second
		if mod != nil {
			mod(&cfg)
		}
		reg := prometheus.NewRegistry()
		httpLn := listen(t)
		e, err := edge.New(edge.Params{Config: cfg, Logger: testLogger(t), Registry: reg,
			HTTPListener: httpLn, Routes: ui.Register})
		if err != nil {
			httpLn.Close()
			return err
		}
		n = &edgeNode{Edge: e, reg: reg, udpPort: cfg.ICE.UDPPort}
		return nil
	})
	runNode(t, n.Run)
	return n
}

// runNode runs a node until the test ends and checks it stops cleanly.
func runNode(t testing.TB, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node stopped with error: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("node did not stop within 15 s of cancel")
		}
	})
}

// publisher is an ffmpeg process publishing over RTSP.
type publisher struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// encodeArgs makes ffmpeg encode a live test pattern: H.264 constrained
// baseline with SPS/PPS only in the SDP (global header), Opus audio.
func encodeArgs(gop int) []string {
	return []string{
		"-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-g", fmt.Sprint(gop), "-keyint_min", fmt.Sprint(gop), "-sc_threshold", "0", "-bf", "0",
		"-b:v", "300k", "-c:a", "libopus", "-b:a", "32k",
	}
}

func startFFmpeg(t testing.TB, input []string, rtspURL string) *publisher {
	t.Helper()
	bin := requireTool(t, "ffmpeg")
	args := append([]string{"-hide_banner", "-loglevel", "warning", "-nostdin"}, input...)
	args = append(args, "-rtsp_transport", "tcp", "-f", "rtsp", rtspURL)
	p := &publisher{cmd: exec.Command(bin, args...), stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *publisher) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func publishURL(o *originNode, name, user, pass string) string {
	return fmt.Sprintf("rtsp://%s:%s@%s/%s", user, pass, o.RTSPAddr(), name)
}

func waitOnline(t testing.TB, o *originNode, name string, p *publisher) {
	t.Helper()
	waitFor(t, 20*time.Second, "the stream to come online at the origin", func() bool {
		select {
		case <-p.done:
			t.Fatalf("ffmpeg exited: %s", p.stderr.String())
		default:
		}
		_, release, err := o.Acquire(context.Background(), name)
		if err != nil {
			return false
		}
		release()
		return true
	})
}

// viewer is a pion WHEP client that records what it receives.
type viewer struct {
	c *whep.Client

	mu    sync.Mutex
	video []*rtp.Packet
	audio []*rtp.Packet
	first time.Time // arrival of the first video packet
}

func dialViewer(t testing.TB, url string) (*viewer, error) {
	t.Helper()
	return dialViewerWith(t, url, "")
}

// dialViewerWith dials as a viewer presenting token (a playback or node
// token) with the offer.
func dialViewerWith(t testing.TB, url, token string) (*viewer, error) {
	t.Helper()
	api, _, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := whep.Dial(ctx, whep.ClientParams{API: api, HTTP: &http.Client{Timeout: 10 * time.Second}, URL: url, Token: token, OnPacket: func(k stream.Kind, p *rtp.Packet) {
		v.mu.Lock()
		defer v.mu.Unlock()
		if k == stream.Video {
			if v.first.IsZero() {
				v.first = time.Now()
			}
			v.video = append(v.video, p)
		} else {
			v.audio = append(v.audio, p)
		}
	}})
	if err != nil {
		return nil, err
	}
	v.c = c
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return v, nil
}

func mustViewer(t testing.TB, url string) *viewer {
	t.Helper()
	v, err := dialViewer(t, url)
	if err != nil {
		t.Fatalf("viewer: %v", err)
	}
	return v
}

func (v *viewer) counts() (video, audio int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.video), len(v.audio)
}

// frames counts complete video frames (packets with the marker bit).
func (v *viewer) frames() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, p := range v.video {
		if p.Marker {
			n++
		}
	}
	return n
}

func (v *viewer) videoPackets() []*rtp.Packet {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*rtp.Packet(nil), v.video...)
}

// accessUnits depacketizes H.264 into access units.
func accessUnits(t testing.TB, pkts []*rtp.Packet) [][][]byte {
	t.Helper()
	d := &rtph264.Decoder{PacketizationMode: 1}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	for _, p := range pkts {
		au, err := d.Decode(p)
		if err != nil {
			if errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
				continue
			}
			t.Fatalf("depacketize: %v", err)
		}
		aus = append(aus, au)
	}
	return aus
}

// decodeFrames has ffmpeg decode Annex-B H.264 and returns how many frames
// it decoded without error.
func decodeFrames(t testing.TB, aus [][][]byte) int {
	t.Helper()
	var buf bytes.Buffer
	for _, au := range aus {
		for _, nalu := range au {
			buf.Write([]byte{0, 0, 0, 1})
			buf.Write(nalu)
		}
	}
	path := filepath.Join(t.TempDir(), "received.h264")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(requireTool(t, "ffprobe"), "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,profile,width,height", "-of", "default=nw=1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	var frames int
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "nb_read_frames="); ok {
			fmt.Sscan(v, &frames)
		}
	}
	return frames
}

func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// demoWithLot starts the demo with lot id live on its stream (a signed
// tee from 10.00 EUR, five minutes) and returns its control and edge URLs.
func demoWithLot(t *testing.T, id string) (ctl, edgeURL string) {
	t.Helper()
	addrs, _ := startDemo(t)
	ctl, edgeURL = "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "POST", ctl+"/v1/lots", demoToken, `{"id":"`+id+`","title":"Signed tee","stream":"demo","currency":"EUR",
		"start_cents":1000,"duration_ms":300000}`, 201)
	call(t, "POST", ctl+"/v1/lots/"+id+"/start", demoToken, "", 200)
	return ctl, edgeURL
}

// watchInChromium opens url in a fresh headless Chromium and returns the
// page with a context that ends after within (and with the test).
func watchInChromium(t *testing.T, url string, within time.Duration) (context.Context, *chrometest.Page) {
	t.Helper()
	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	p, err := b.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return ctx, p
}
