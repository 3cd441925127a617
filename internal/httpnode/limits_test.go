package httpnode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// testRoutes are handlers of the kinds the nodes mount: a bounded body
// read (413 past 16 bytes), and a WebSocket that ticks every 100 ms.
func testRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16)
		b, err := io.ReadAll(r.Body)
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			http.Error(w, "body larger than 16 bytes", http.StatusRequestEntityTooLarge)
		case err != nil:
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		default:
			_, _ = w.Write(b)
		}
	})
	up := websocket.Upgrader{}
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		go func() { // ends when the client closes: ReadMessage fails and so does the next write
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			<-tick.C
			if err := c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))); err != nil {
				return
			}
		}
	})
}

// startNode runs a node with set and testRoutes until the test ends.
func startNode(t *testing.T, set Settings, reg *prometheus.Registry) *Node {
	t.Helper()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	n, err := New(Params{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: reg, Grace: time.Second, Settings: set, Routes: testRoutes})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return n
}

// trickle writes head, then one byte of tail per second, and returns how
// long after head the server closed the connection (or fails the test
// when it was still open after limit).
func trickle(t *testing.T, addr, head, tail string, limit time.Duration) time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan struct{})
	go func() { // the server's answer, if any, then its close
		_, _ = io.Copy(io.Discard, c)
		close(closed)
	}()
	start := time.Now()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	give := time.After(limit)
	for i := 0; ; i++ {
		select {
		case <-closed:
			return time.Since(start)
		case <-give:
			t.Fatalf("connection still open %v after the headers began, %d bytes trickled", limit, i)
		case <-tick.C:
			_, _ = c.Write([]byte{tail[i%len(tail)]}) // fails once the server closed
		}
	}
}

// TestSlowBodyIsCutAtReadTimeout: a client that sends its headers and
// then one byte of body a second is disconnected once http_read_timeout
// has passed, not kept forever.
func TestSlowBodyIsCutAtReadTimeout(t *testing.T) {
	set := DefaultSettings()
	set.HTTPReadHeaderTimeout, set.HTTPReadTimeout = time.Second, 2*time.Second
	reg := prometheus.NewRegistry()
	n := startNode(t, set, reg)
	head := "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n"
	took := trickle(t, n.Addr(), head, "abcdefghijkl", 6*time.Second)
	if took < set.HTTPReadTimeout-200*time.Millisecond {
		t.Fatalf("cut after %v, before http_read_timeout %v", took, set.HTTPReadTimeout)
	}
	if got := scrape(t, n, `livedrop_http_refused_total{reason="read_timeout"}`); got != "1" {
		t.Fatalf("read_timeout refusals %q, want 1", got)
	}
}

// TestSlowHeadersAreCutAtReadHeaderTimeout: a client trickling its
// headers is cut at http_read_header_timeout.
func TestSlowHeadersAreCutAtReadHeaderTimeout(t *testing.T) {
	set := DefaultSettings()
	set.HTTPReadHeaderTimeout, set.HTTPReadTimeout = time.Second, 20*time.Second
	n := startNode(t, set, nil)
	took := trickle(t, n.Addr(), "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: aaaaaaaaaaaaaaaaaaaaaa", 5*time.Second)
	if took > 3*time.Second {
		t.Fatalf("cut after %v, want about http_read_header_timeout %v", took, set.HTTPReadHeaderTimeout)
	}
}

// scrape reads one sample of the node's /metrics.
func scrape(t *testing.T, n *Node, series string) string {
	t.Helper()
	_, body := getBody(t, "http://"+n.Addr()+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return "(missing)"
}

// TestOversizedBodyIs413AndCounted: a body past a handler's limit is
// answered 413 with the reason, and counted.
func TestOversizedBodyIs413AndCounted(t *testing.T) {
	n := startNode(t, DefaultSettings(), nil)
	resp, err := http.Post("http://"+n.Addr()+"/echo", "text/plain", strings.NewReader(strings.Repeat("a", 100)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "larger than 16 bytes") {
		t.Fatalf("oversized body: %d %q, want 413 naming the limit", resp.StatusCode, b)
	}
	if got := scrape(t, n, `livedrop_http_refused_total{reason="body_too_large"}`); got != "1" {
		t.Fatalf("body_too_large refusals %q, want 1", got)
	}
}

// TestKeepAliveSurvives: the limits keep connections reused.
func TestKeepAliveSurvives(t *testing.T) {
	n := startNode(t, DefaultSettings(), nil)
	reused := 0
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			reused++
		}
	}}
	for range 3 {
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST",
			"http://"+n.Addr()+"/echo", strings.NewReader("hello"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if reused != 2 {
		t.Fatalf("%d of 3 requests reused the connection, want 2", reused)
	}
}

// TestWebSocketOutlivesWriteAndReadTimeouts: a WebSocket keeps receiving
// well past http_write_timeout and http_read_timeout.
func TestWebSocketOutlivesWriteAndReadTimeouts(t *testing.T) {
	set := DefaultSettings()
	set.HTTPReadHeaderTimeout, set.HTTPReadTimeout, set.HTTPWriteTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	n := startNode(t, set, nil)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+n.Addr()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	for time.Since(start) < 5*set.HTTPWriteTimeout {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("websocket cut after %v (write timeout %v): %v", time.Since(start), set.HTTPWriteTimeout, err)
		}
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatalf("client write after %v: %v", time.Since(start), err)
	}
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatalf("websocket cut after the client wrote: %v", err)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "livedrop test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSServesHTTPSWithHSTS: with tls_cert_file and tls_key_file the node
// speaks HTTPS only and tells browsers to keep to it.
func TestTLSServesHTTPSWithHSTS(t *testing.T) {
	set := DefaultSettings()
	var pool *x509.CertPool
	set.TLSCertFile, set.TLSKeyFile, pool = selfSigned(t, t.TempDir())
	n := startNode(t, set, nil)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + n.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != hstsValue {
		t.Fatalf("https /healthz: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	// Plain HTTP on the TLS port gets no page.
	resp, err = http.Get("http://" + n.Addr() + "/healthz")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("plain http served on the TLS port: %q", b)
		}
	}
	// Without TLS, no HSTS.
	plain := startNode(t, DefaultSettings(), nil)
	resp, err = http.Get("http://" + plain.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("Strict-Transport-Security"); h != "" {
		t.Fatalf("HSTS %q over plain HTTP", h)
	}
}

// TestBadTLSFilesFailNamingTheKeys: a missing or wrong pair fails New.
func TestBadTLSFilesFailNamingTheKeys(t *testing.T) {
	dir := t.TempDir()
	cert, _, _ := selfSigned(t, dir)
	for _, pair := range [][2]string{{filepath.Join(dir, "nope.pem"), filepath.Join(dir, "key.pem")}, {cert, cert}} {
		set := DefaultSettings()
		set.TLSCertFile, set.TLSKeyFile = pair[0], pair[1]
		_, err := New(Params{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Registry: prometheus.NewRegistry(), Grace: time.Second, Settings: set})
		if err == nil || !strings.Contains(err.Error(), "tls_cert_file") {
			t.Fatalf("New with %v: %v, want an error naming tls_cert_file", pair, err)
		}
	}
}

// TestSettingsValidateNamesTheKey: bad values are refused by key.
func TestSettingsValidateNamesTheKey(t *testing.T) {
	for key, mod := range map[string]func(*Settings){
		"http_read_header_timeout": func(s *Settings) { s.HTTPReadHeaderTimeout = 0 },
		"http_read_timeout":        func(s *Settings) { s.HTTPReadTimeout = -time.Second },
		"http_write_timeout":       func(s *Settings) { s.HTTPWriteTimeout = 2 * time.Hour },
		"http_idle_timeout":        func(s *Settings) { s.HTTPIdleTimeout = 0 },
		"http_max_header_bytes":    func(s *Settings) { s.HTTPMaxHeaderBytes = 10 },
		"tls_key_file":             func(s *Settings) { s.TLSCertFile = "cert.pem" },
	} {
		s := DefaultSettings()
		mod(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: Validate = %v, want an error naming it", key, err)
		}
	}
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatal(err)
	}
}
