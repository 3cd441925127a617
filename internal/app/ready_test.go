package app

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/redistest"
)

// runCmd runs a node command until the test ends and returns its HTTP
// address.
func runCmd(t *testing.T, cmd string, env map[string]string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{cmd}, Env{Stdout: io.Discard, Stderr: io.Discard, Lookup: envOf(env),
			Ready: func(a Addrs) { ready <- a }})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", cmd, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop", cmd)
		}
	}
	t.Cleanup(stop)
	select {
	case a := <-ready:
		return a.OriginHTTP + a.EdgeHTTP, stop
	case err := <-done:
		t.Fatalf("%s exited: %v", cmd, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start", cmd)
	}
	return "", stop
}

// readyz answers a node's /readyz: its status code and body.
func readyz(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReadyz waits until each node's /readyz answers what is wanted.
func waitReadyz(t *testing.T, step string, want map[string]struct {
	code int
	body string
}) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for name, w := range want {
		for {
			code, body := readyz(name)
			if code == w.code && body == w.body {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /readyz of %s answers %d %q, want %d %q", step, name, code, body, w.code, w.body)
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
		}
	}
}

type answer = struct {
	code int
	body string
}

// TestReadyzFollowsRedisAndOrigin: an origin and two edges on a real Redis
// say ready; with Redis stopped the origin and a strict edge answer 503
// "not ready: redis unreachable" while a local-first edge stays 200 and
// says why; after Redis restarts all are ready again; with the origin
// gone the edges are not ready, naming it.
func TestReadyzFollowsRedisAndOrigin(t *testing.T) {
	redis := redistest.Start(t, redistest.Options{})
	const token = "ready-test-token-0123456789"
	originAddr, stopOrigin := runCmd(t, "origin", map[string]string{
		"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_PUBLISH_PASSWORD": "secret", "LIVEDROP_NODE_SECRET": testNodeSecret,
		"LIVEDROP_READ_USER": "viewer", "LIVEDROP_READ_PASSWORD": "read-secret",
		"LIVEDROP_REDIS_URL": redis.URL(), "LIVEDROP_CONTROL_TOKEN": token,
		"LIVEDROP_HTTP_ADDR": "127.0.0.1:0", "LIVEDROP_RTSP_ADDR": "127.0.0.1:0",
		"LIVEDROP_RTSP_UDP_RTP_ADDR": "", "LIVEDROP_RTSP_UDP_RTCP_ADDR": "",
		"LIVEDROP_ICE_UDP_PORT": strconv.Itoa(freeUDPPort(t)),
	})
	edgeEnv := func(id, localFirst string) map[string]string {
		return map[string]string{
			"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_REDIS_URL": redis.URL(), "LIVEDROP_NODE_ID": id, "LIVEDROP_NODE_SECRET": testNodeSecret,
			"LIVEDROP_SESSION_SECRET": buyertest.Secret,
			"LIVEDROP_HTTP_ADDR":      "127.0.0.1:0", "LIVEDROP_ICE_UDP_PORT": strconv.Itoa(freeUDPPort(t)),
			"LIVEDROP_ORIGIN_URL": "http://" + originAddr, "LIVEDROP_CHECKOUT_LOCAL_FIRST": localFirst,
		}
	}
	strict, _ := runCmd(t, "edge", edgeEnv("strict", "false"))
	local, _ := runCmd(t, "edge", edgeEnv("local", "true"))

	ready := answer{200, "ready\n"}
	waitReadyz(t, "redis up", map[string]answer{originAddr: ready, strict: ready, local: ready})

	redis.Stop()
	down := answer{503, "not ready: redis unreachable\n"}
	waitReadyz(t, "redis stopped", map[string]answer{
		originAddr: down, strict: down, local: {200, "ready (local-first: redis unreachable)\n"},
	})

	redis.Restart()
	waitReadyz(t, "redis restarted", map[string]answer{originAddr: ready, strict: ready, local: ready})

	stopOrigin()
	gone := answer{503, "not ready: origin unreachable\n"}
	waitReadyz(t, "origin stopped", map[string]answer{strict: gone, local: gone})
}

// TestOverlayWebSocketOutlivesHTTPTimeouts: an edge with short HTTP read
// and write timeouts keeps a viewer's overlay WebSocket open well past
// them: pings keep arriving and the socket is not cut.
func TestOverlayWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	const timeout = 300 * time.Millisecond
	addr, _ := runCmd(t, "edge", map[string]string{
		"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_HTTP_ADDR": "127.0.0.1:0", "LIVEDROP_NODE_SECRET": testNodeSecret,
		"LIVEDROP_ICE_UDP_PORT":                    strconv.Itoa(freeUDPPort(t)),
		"LIVEDROP_HTTP_READ_TIMEOUT":               timeout.String(),
		"LIVEDROP_HTTP_WRITE_TIMEOUT":              timeout.String(),
		"LIVEDROP_HTTP_READ_HEADER_TIMEOUT":        timeout.String(),
		"LIVEDROP_OVERLAY_WEBSOCKET_PING_INTERVAL": "100ms",
	})
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/v1/streams/cam/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	pings := make(chan time.Time, 256)
	ws.SetPingHandler(func(data string) error {
		pings <- time.Now()
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	start := time.Now()
	for last := start; last.Sub(start) < 6*timeout; {
		select {
		case last = <-pings:
		case err := <-readErr:
			t.Fatalf("overlay socket cut after %v (http timeouts %v): %v", time.Since(start), timeout, err)
		case <-time.After(2 * time.Second):
			t.Fatalf("no ping for 2s, %v after the upgrade", time.Since(start))
		}
	}
}
