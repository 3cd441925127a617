package origin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/livedrop/livedrop/internal/guard"
)

const (
	testPubPass  = "right-publish-pass"
	testReadPass = "right-read-pass"
)

// testNodeSecret is the node secret of the tests' origins.
const testNodeSecret = "origin-test-node-secret-01"

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// linesWith counts the log lines that contain s.
func (l *logBuf) linesWith(s string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testOrigin struct {
	*Origin
	reg   *prometheus.Registry
	logs  *logBuf
	clock *testClock
}

// startTestOrigin runs an origin on loopback with a guard on a clock the
// test moves.
func startTestOrigin(t *testing.T, mod func(*Config), pmods ...func(*Params)) *testOrigin {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Access.NodeSecrets = []string{testNodeSecret}
	cfg.HTTPAddr, cfg.RTSPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.RTSPUDPRTPAddr, cfg.RTSPUDPRTCPAddr = "", ""
	cfg.ICE.UDPPort = 0
	cfg.PublishPassword = testPubPass
	cfg.ReadUser, cfg.ReadPassword = "viewer", testReadPass
	cfg.DataDir = t.TempDir()
	cfg.ShutdownGrace = time.Second
	cfg.AuthGuard.MaxFailures = 5
	if mod != nil {
		mod(&cfg)
	}
	logs := &logBuf{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	reg := prometheus.NewRegistry()
	clock := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m, err := guard.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := guard.New(guard.Params{Config: cfg.AuthGuard, Now: clock.now, Logger: log, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rtspLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	params := Params{Config: cfg, Logger: log, Registry: reg, HTTPListener: httpLn, RTSPListener: rtspLn, Guard: g}
	for _, pm := range pmods {
		pm(&params)
	}
	o, err := New(params)
	if err != nil {
		httpLn.Close()
		rtspLn.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("origin run: %v", err)
		}
	})
	waitFor(t, 5*time.Second, "the RTSP server to answer", func() bool {
		c, err := net.Dial("tcp", o.RTSPAddr())
		if err != nil {
			return false
		}
		defer c.Close()
		res, err := rtspRequest(c, "OPTIONS", "rtsp://"+o.RTSPAddr()+"/", 1, nil)
		return err == nil && res.status == 200
	})
	return &testOrigin{Origin: o, reg: reg, logs: logs, clock: clock}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
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
		for _, m := range mf.GetMetric() {
			if matches(m, labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// publish records a one-track H.264 stream with pass as the password; it
// returns the client's error (nil: the origin took the publish).
func publish(o *Origin, pass string) error {
	desc := &description.Session{Medias: []*description.Media{{
		Type:    description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}},
	}}}
	c := &gortsplib.Client{Transport: ptr(gortsplib.TransportTCP)}
	err := c.StartRecording(fmt.Sprintf("rtsp://seller:%s@%s/cam", pass, o.RTSPAddr()), desc)
	if err == nil {
		c.Close()
	}
	return err
}

func ptr[T any](v T) *T { return &v }

type rtspResponse struct {
	status int
	header textproto.MIMEHeader
}

// rtspRequest writes one request on c and reads its answer.
func rtspRequest(c net.Conn, method, url string, cseq int, hdr map[string]string) (rtspResponse, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\n", method, url, cseq)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, b.String()); err != nil {
		return rtspResponse{}, err
	}
	tp := textproto.NewReader(bufio.NewReader(c))
	line, err := tp.ReadLine()
	if err != nil {
		return rtspResponse{}, err
	}
	f := strings.SplitN(line, " ", 3)
	if len(f) < 2 {
		return rtspResponse{}, fmt.Errorf("status line %q", line)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return rtspResponse{}, fmt.Errorf("status line %q", line)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return rtspResponse{}, err
	}
	return rtspResponse{status: code, header: h}, nil
}

var reNonce = regexp.MustCompile(`Digest .*nonce="([^"]+)"`)

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

// digest answers a Digest challenge the way ffmpeg does.
func digest(user, pass, method, uri, nonce string) string {
	const realm = "ipcam"
	resp := md5hex(md5hex(user+":"+realm+":"+pass) + ":" + nonce + ":" + md5hex(method+":"+uri))
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s"`, user, realm, nonce, uri, resp)
}
