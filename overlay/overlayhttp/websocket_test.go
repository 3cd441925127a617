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
	svc, err := NewEdgeService(EdgeServiceParams{Hub: hub})
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
