package app

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestDemoStampsOverlaysWithMediaTime runs the demo with its camera and
// checks that a product pinned at the origin reaches the seller console's
// events with the media time of the camera's stream: the origin's overlay
// hub reads the clock of the origin's streams.
func TestDemoStampsOverlaysWithMediaTime(t *testing.T) {
	const token = "media-time-token-0123456789"
	env := map[string]string{
		"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_CONTROL_TOKEN": token,
		"LIVEDROP_ORIGIN_HTTP_ADDR": "127.0.0.1:0", "LIVEDROP_EDGE_HTTP_ADDR": "127.0.0.1:0",
		"LIVEDROP_RTSP_ADDR":           "127.0.0.1:0",
		"LIVEDROP_ORIGIN_ICE_UDP_PORT": strconv.Itoa(freeUDPPort(t)),
		"LIVEDROP_EDGE_ICE_UDP_PORT":   strconv.Itoa(freeUDPPort(t)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"demo"}, Env{Stdout: io.Discard, Stderr: io.Discard, Lookup: envOf(env),
			Ready: func(a Addrs) { ready <- a }})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("demo did not stop")
		}
	}()
	var addrs Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("demo exited: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not start")
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addrs.OriginHTTP+"/v1/streams/demo/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	msgs := make(chan map[string]any, 64)
	go func() {
		defer close(msgs)
		for {
			var m map[string]any
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			msgs <- m
		}
	}()
	pin := func() {
		req, _ := http.NewRequest("POST", "http://"+addrs.OriginHTTP+"/v1/streams/demo/overlays",
			strings.NewReader(`{"type":"product","drop":"`+SampleDropID+`","sku":"tee"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("pin: %s", resp.Status)
		}
	}
	// Until the camera's first video reaches the origin, shows carry no
	// media time; pin again after each one that has none.
	deadline := time.After(20 * time.Second)
	pin()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("events socket closed")
			}
			if m["type"] != "show" {
				continue
			}
			if _, stamped := m["media_ts"]; stamped {
				return
			}
			pin()
		case <-deadline:
			t.Fatal("no show stamped with media time within 20 s")
		}
	}
}
