package overlayhttp

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/overlay"
)

func dial(t *testing.T, url string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(strings.Replace(url, "http://", "ws://", 1), hdr)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

func readMsg(t *testing.T, c *websocket.Conn) overlay.Message {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("message type %d, want text", typ)
	}
	m, err := overlay.DecodeMessage(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// TestEventsOversizedClosesOnlyThatSocket: a client that sends more than the
// read limit is closed with 1009; another client of the same stream keeps
// receiving.
func TestEventsOversizedClosesOnlyThatSocket(t *testing.T) {
	srv, _ := originServer(t, overlay.Defaults())
	url := srv.URL + "/v1/streams/cam1/events"
	bad, _, err := dial(t, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _, err := dial(t, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{bad, good} {
		if m := readMsg(t, c); m.Type != overlay.TypeState {
			t.Fatalf("first message %+v, want state", m)
		}
	}
	if err := bad.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 5000))); err != nil {
		t.Fatal(err)
	}
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = bad.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized sender got %v, want close 1009", err)
	}

	// A small client message is ignored, the socket stays.
	if err := good.WriteMessage(websocket.TextMessage, []byte(`{"hello":1}`)); err != nil {
		t.Fatal(err)
	}
	if code, _, body := do(t, "POST", srv.URL+"/v1/streams/cam1/overlays", token, `{"type":"product","drop":"d1","sku":"tee"}`); code != 201 {
		t.Fatalf("pin: %d %s", code, body)
	}
	m := readMsg(t, good)
	if m.Type != overlay.TypeShow || m.Seq != 1 || m.Overlay.Name != "Tee" || *m.MediaTS != 90000 {
		t.Fatalf("got %+v, want the show", m)
	}
}

func TestEventsOriginCheck(t *testing.T) {
	cfg := overlay.Defaults()
	cfg.WebSocket.AllowedOrigins = []string{"https://Shop.Example.com"}
	srv, _ := originServer(t, cfg)
	url := srv.URL + "/v1/streams/cam1/events"
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name, origin string
		ok           bool
	}{
		{"no origin (not a browser)", "", true},
		{"same origin", "http://" + host, true},
		{"allowed", "https://shop.example.com", true},
		{"allowed host, other scheme", "http://shop.example.com", false},
		{"other site", "https://evil.example", false},
		{"other port", "http://127.0.0.1:1", false},
		{"null", "null", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{}
			if tc.origin != "" {
				hdr.Set("Origin", tc.origin)
			}
			c, resp, err := dial(t, url, hdr)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if m := readMsg(t, c); m.Type != overlay.TypeState {
					t.Fatalf("first message %+v", m)
				}
				return
			}
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("Origin %q: err %v, resp %v; want 403", tc.origin, err, resp)
			}
		})
	}
}

func TestEventsBadRequests(t *testing.T) {
	srv, _ := originServer(t, overlay.Defaults())
	if code, _, _ := do(t, "GET", srv.URL+"/v1/streams/cam1/events", "", ""); code != 400 {
		t.Fatalf("plain GET: %d, want 400", code)
	}
	if _, resp, err := dial(t, srv.URL+"/v1/streams/c%20m/events", nil); err == nil || resp.StatusCode != 400 {
		t.Fatalf("bad stream: %v", err)
	}
}

// TestEventsShutdown: stopping the service closes its sockets with 1001.
func TestEventsShutdown(t *testing.T) {
	hub, err := overlay.NewEdgeHub(overlay.EdgeParams{Registerer: prometheus.NewRegistry(), Config: overlay.Defaults()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewEdgeService(EdgeServiceParams{Hub: hub, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := newServer(t, mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	c, _, err := dial(t, srv.URL+"/v1/streams/cam1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	readMsg(t, c)
	if err := hub.Ingest("cam1", []byte(`{"v":1,"type":"state","seq":3,"overlays":[{"id":"ov-1","kind":"countdown","label":"Go","ends_at_ms":5}]}`)); err != nil {
		t.Fatal(err)
	}
	if m := readMsg(t, c); m.Type != overlay.TypeState || len(m.Overlays) != 1 {
		t.Fatalf("got %+v", m)
	}
	cancel()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("after shutdown: %v, want close 1001", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("service did not stop")
	}
}

// TestEventsSocketBudgets: one address opens at most max_conns_per_ip
// sockets (429 with Retry-After beyond, before any upgrade), the node at
// most max_conns (503); a closed socket gives its place back.
func TestEventsSocketBudgets(t *testing.T) {
	cfg := overlay.Defaults()
	cfg.WebSocket.MaxConns, cfg.WebSocket.MaxConnsPerIP = 5, 3
	hub, err := overlay.NewEdgeHub(overlay.EdgeParams{Registerer: prometheus.NewRegistry(), Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	svc, err := NewEdgeService(EdgeServiceParams{Hub: hub, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	// Two client addresses, as two buyers behind different NATs: the test
	// server sees the address each request names in X-Test-Client.
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := r.Header.Get("X-Test-Client"); c != "" {
			r.RemoteAddr = c + ":1234"
		}
		mux.ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	from := func(ip string) http.Header { return http.Header{"X-Test-Client": {ip}} }
	url := srv.URL + "/v1/streams/cam1/events"
	var open []*websocket.Conn
	for range 3 {
		c, _, err := dial(t, url, from("10.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		readMsg(t, c)
		open = append(open, c)
	}
	_, resp, err := dial(t, url, from("10.0.0.1"))
	if err == nil || resp == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth socket from one address: %v %v, want 429 with Retry-After", err, resp)
	}
	for range 2 {
		c, _, err := dial(t, url, from("10.0.0.2"))
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	if _, resp, err := dial(t, url, from("10.0.0.3")); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("socket over the node's cap: %v %v, want 503", err, resp)
	}
	if got := testutil.ToFloat64(svc.events.refused.WithLabelValues("ip_cap")); got != 1 {
		t.Fatalf("ip_cap refusals counted %v, want 1", got)
	}
	if got := testutil.ToFloat64(svc.events.refused.WithLabelValues("global_cap")); got != 1 {
		t.Fatalf("global_cap refusals counted %v, want 1", got)
	}
	// A socket closed by its client frees its place.
	_ = open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := dial(t, url, from("10.0.0.1"))
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closed socket's place was not given back: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // the handler sees the close on its next read
	}
	for _, c := range open[1:] {
		_ = c.Close()
	}
}
