package origin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
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
func startTestOrigin(t *testing.T, mod func(*Config)) *testOrigin {
	t.Helper()
	cfg := DefaultConfig()
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
	o, err := New(Params{Config: cfg, Logger: log, Registry: reg, HTTPListener: httpLn, RTSPListener: rtspLn, Guard: g})
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

func TestPublishBruteForceIsLockedOut(t *testing.T) {
	o := startTestOrigin(t, nil)
	start := time.Now()
	for i := 0; i < 500; i++ {
		if err := publish(o.Origin, fmt.Sprintf("guess-%d", i)); err == nil {
			t.Fatalf("guess %d was accepted", i)
		}
	}
	t.Logf("500 wrong publishes in %v", time.Since(start))
	if n := counter(t, o.reg, "livedrop_auth_failures_total", map[string]string{"surface": "rtsp_publish", "reason": "wrong_credentials"}); n != 5 {
		t.Fatalf("wrong credentials checked %v times, want the budget of 5", n)
	}
	if n := counter(t, o.reg, "livedrop_auth_failures_total", map[string]string{"surface": "rtsp_publish", "reason": "locked_out"}); n != 495 {
		t.Fatalf("locked_out = %v, want 495", n)
	}
	if n := counter(t, o.reg, "livedrop_auth_lockouts_total", map[string]string{"surface": "rtsp_publish"}); n != 1 {
		t.Fatalf("lockouts = %v, want 1", n)
	}
	// The right password during the lockout: refused unchecked.
	if err := publish(o.Origin, testPubPass); err == nil {
		t.Fatal("the right password was accepted during the lockout")
	}
	if lines := o.logs.linesWith("auth"); lines > 3 {
		t.Fatalf("%d log lines about auth for 501 tries:\n%s", lines, o.logs)
	}
	if strings.Contains(o.logs.String(), "guess-") || strings.Contains(o.logs.String(), testPubPass) {
		t.Fatalf("a password was logged:\n%s", o.logs)
	}
	o.clock.add(o.cfg.AuthGuard.Lockout)
	if err := publish(o.Origin, testPubPass); err != nil {
		t.Fatalf("the right password after the lockout: %v", err)
	}
}

func TestDigestOfferedBasicRefused(t *testing.T) {
	for _, tc := range []struct {
		methods   []string
		wantBasic bool
	}{
		{nil, false}, // the default: [digest]
		{[]string{"basic", "digest"}, true},
	} {
		t.Run(strings.Join(tc.methods, "+"), func(t *testing.T) {
			o := startTestOrigin(t, func(c *Config) {
				if tc.methods != nil {
					c.RTSPAuthMethods = tc.methods
				}
			})
			url := "rtsp://" + o.RTSPAddr() + "/cam"
			c, err := net.Dial("tcp", o.RTSPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res, err := rtspRequest(c, "DESCRIBE", url, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			challenges := strings.Join(res.header.Values("Www-Authenticate"), " | ")
			if res.status != 401 || !strings.Contains(challenges, "Digest") {
				t.Fatalf("DESCRIBE without credentials: %d %q, want 401 offering Digest", res.status, challenges)
			}
			if got := strings.Contains(challenges, "Basic"); got != tc.wantBasic {
				t.Fatalf("Basic offered = %v, want %v (%q)", got, tc.wantBasic, challenges)
			}
			// The right read credentials, answered with Digest: the stream is
			// simply not there (404), so authentication passed.
			nonce := reNonce.FindStringSubmatch(challenges)
			if nonce == nil {
				t.Fatalf("no nonce in %q", challenges)
			}
			res, err = rtspRequest(c, "DESCRIBE", url, 2, map[string]string{"Authorization": digest("viewer", testReadPass, "DESCRIBE", url, nonce[1])})
			if err != nil || res.status != 404 {
				t.Fatalf("DESCRIBE with digest: %d %v, want 404", res.status, err)
			}
			// The right credentials in clear.
			c2, err := net.Dial("tcp", o.RTSPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("viewer:"+testReadPass))
			res, err = rtspRequest(c2, "DESCRIBE", url, 1, map[string]string{"Authorization": basic})
			want := 401
			if tc.wantBasic {
				want = 404
			}
			if err != nil || res.status != want {
				t.Fatalf("DESCRIBE with basic: %d %v, want %d", res.status, err, want)
			}
			if !tc.wantBasic {
				if n := counter(t, o.reg, "livedrop_auth_failures_total", map[string]string{"surface": "rtsp_read", "reason": "method_not_allowed"}); n != 1 {
					t.Fatalf("method_not_allowed = %v, want 1", n)
				}
			}
		})
	}
}

func TestReadNeedsCredentialsUnlessOpen(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PublishPassword = "x"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "read_user, read_password") {
		t.Fatalf("default config without read credentials: %v", err)
	}
	cfg.RTSPReadOpen = true
	if err := cfg.Validate(); err != nil {
		t.Fatalf("rtsp_read_open: %v", err)
	}
	cfg.ReadUser, cfg.ReadPassword = "viewer", "p"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "rtsp_read_open") {
		t.Fatalf("both open and credentials: %v", err)
	}

	o := startTestOrigin(t, nil)
	c, err := net.Dial("tcp", o.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if res, err := rtspRequest(c, "DESCRIBE", "rtsp://"+o.RTSPAddr()+"/cam", 1, nil); err != nil || res.status != 401 {
		t.Fatalf("DESCRIBE without credentials: %d %v, want 401", res.status, err)
	}
	open := startTestOrigin(t, func(c *Config) { c.RTSPReadOpen, c.ReadUser, c.ReadPassword = true, "", "" })
	c2, err := net.Dial("tcp", open.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if res, err := rtspRequest(c2, "DESCRIBE", "rtsp://"+open.RTSPAddr()+"/cam", 1, nil); err != nil || res.status != 404 {
		t.Fatalf("DESCRIBE on an open origin: %d %v, want 404", res.status, err)
	}
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestHandshakeDeadlineClosesSilentConnection(t *testing.T) {
	o := startTestOrigin(t, func(c *Config) { c.RTSPHandshakeTimeout = 300 * time.Millisecond })
	silent, err := net.Dial("tcp", o.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	if !closedWithin(silent, 5*time.Second) {
		t.Fatal("a silent connection stayed open 5 s")
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the 300 ms deadline", el)
	}
	// Talking but never playing or recording does not extend it.
	chatty, err := net.Dial("tcp", o.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer chatty.Close()
	start = time.Now()
	for i := 1; ; i++ {
		if _, err := rtspRequest(chatty, "OPTIONS", "rtsp://"+o.RTSPAddr()+"/", i, nil); err != nil {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("a client sending OPTIONS was kept 5 s without playing")
		}
		time.Sleep(50 * time.Millisecond) // the client's pace, not synchronisation
	}
	waitFor(t, 5*time.Second, "handshake timeouts counted", func() bool {
		return counter(t, o.reg, "livedrop_rtsp_refused_total", map[string]string{"reason": "handshake_timeout"}) == 2
	})
	// A publisher that records is not cut at the deadline.
	desc := &description.Session{Medias: []*description.Media{{
		Type:    description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}},
	}}}
	pub := &gortsplib.Client{Transport: ptr(gortsplib.TransportTCP)}
	if err := pub.StartRecording(fmt.Sprintf("rtsp://seller:%s@%s/cam", testPubPass, o.RTSPAddr()), desc); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	waitErr := make(chan error, 1)
	go func() { waitErr <- pub.Wait() }()
	select {
	case err := <-waitErr:
		t.Fatalf("recording publisher cut: %v", err)
	case <-time.After(time.Second): // three deadlines' worth of recording
	}
}

func TestPerAddressConnectionCap(t *testing.T) {
	o := startTestOrigin(t, func(c *Config) { c.RTSPMaxConnsPerIP = 2 })
	url := "rtsp://" + o.RTSPAddr() + "/"
	held := holdConns(t, o, 2)
	refusedBefore := counter(t, o.reg, "livedrop_rtsp_refused_total", map[string]string{"reason": "max_conns_per_ip"})
	third, err := net.Dial("tcp", o.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if _, err := rtspRequest(third, "OPTIONS", url, 1, nil); err == nil {
		t.Fatal("a third connection from one address was served")
	}
	if n := counter(t, o.reg, "livedrop_rtsp_refused_total", map[string]string{"reason": "max_conns_per_ip"}); n != refusedBefore+1 {
		t.Fatalf("max_conns_per_ip = %v, want %v", n, refusedBefore+1)
	}
	held[0].Close()
	waitFor(t, 5*time.Second, "a place to free up", func() bool {
		c, err := net.Dial("tcp", o.RTSPAddr())
		if err != nil {
			return false
		}
		defer c.Close()
		res, err := rtspRequest(c, "OPTIONS", url, 1, nil)
		return err == nil && res.status == 200
	})
}

// holdConns opens n RTSP connections that are served, retrying while
// earlier connections (startTestOrigin's probe) still hold places.
func holdConns(t *testing.T, o *testOrigin, n int) []net.Conn {
	t.Helper()
	url := "rtsp://" + o.RTSPAddr() + "/"
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	waitFor(t, 5*time.Second, fmt.Sprintf("%d connections served", n), func() bool {
		c, err := net.Dial("tcp", o.RTSPAddr())
		if err != nil {
			return false
		}
		if res, err := rtspRequest(c, "OPTIONS", url, 1, nil); err != nil || res.status != 200 {
			c.Close()
			return false
		}
		held = append(held, c)
		return len(held) == n
	})
	return held
}

func TestPublicAddressExposure(t *testing.T) {
	for addr, public := range map[string]bool{
		":8554": true, "0.0.0.0:8554": true, "[::]:8554": true, "192.0.2.10:8554": true, "cam.example:8554": true,
		"127.0.0.1:8554": false, "[::1]:8554": false, "localhost:8554": false, "127.0.0.2:1": false,
	} {
		if got := PublicAddr(addr); got != public {
			t.Errorf("PublicAddr(%q) = %v, want %v", addr, got, public)
		}
	}
	cfg := DefaultConfig()
	cfg.PublishPassword, cfg.RTSPReadOpen = "x", true
	err := cfg.Exposure()
	if err == nil || !strings.Contains(err.Error(), "rtsp_read_open") || !strings.Contains(err.Error(), `":8554"`) {
		t.Fatalf("open read on :8554: %v", err)
	}
	cfg.RTSPAuthMethods = []string{"basic", "digest"}
	if err := cfg.Exposure(); err == nil || !strings.Contains(err.Error(), "rtsp_auth_methods") {
		t.Fatalf("basic on :8554: %v", err)
	}
	cfg.HTTPAddr, cfg.RTSPAddr = "127.0.0.1:8081", "127.0.0.1:8554"
	if err := cfg.Exposure(); err != nil {
		t.Fatalf("loopback only: %v", err)
	}
	cfg = DefaultConfig()
	cfg.PublishPassword, cfg.ReadUser, cfg.ReadPassword = "x", "viewer", "y"
	if err := cfg.Exposure(); err != nil {
		t.Fatalf("credentials everywhere: %v", err)
	}
}

func TestAuthMethodsKey(t *testing.T) {
	for _, bad := range [][]string{{}, {"ntlm"}, {"digest", "digest"}} {
		cfg := DefaultConfig()
		cfg.PublishPassword, cfg.RTSPReadOpen = "x", true
		cfg.RTSPAuthMethods = bad
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "rtsp_auth_methods") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestGlobalConnectionCap(t *testing.T) {
	o := startTestOrigin(t, func(c *Config) { c.RTSPMaxConns, c.RTSPMaxConnsPerIP = 3, 3 })
	holdConns(t, o, 3)
	before := counter(t, o.reg, "livedrop_rtsp_refused_total", map[string]string{"reason": "max_conns"})
	c, err := net.Dial("tcp", o.RTSPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := rtspRequest(c, "OPTIONS", "rtsp://"+o.RTSPAddr()+"/", 1, nil); err == nil {
		t.Fatal("a fourth connection was served over rtsp_max_conns 3")
	}
	if n := counter(t, o.reg, "livedrop_rtsp_refused_total", map[string]string{"reason": "max_conns"}); n != before+1 {
		t.Fatalf("max_conns refusals = %v, want %v", n, before+1)
	}
}
