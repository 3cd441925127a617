package app

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/leakcheck"
	"github.com/livedrop/livedrop/internal/redistest"
)

// TestMain fails the package when a goroutine of a node outlives the
// tests.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, nodeGoroutines...)
}

// nodeGoroutines mark the goroutines a command's nodes start: none may
// outlive the command.
var nodeGoroutines = []string{
	"livedrop/origin.", "livedrop/edge.", "livedrop/checkout", "livedrop/overlay",
	"livedrop/internal/whep", "livedrop/internal/httpnode", "livedrop/internal/camera",
	"pion/ice", "pion/webrtc", "gortsplib", "go-redis",
}

// freeTCP returns a loopback address nobody listens on now.
func freeTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// holdTCP listens on a free loopback port until the test ends.
func holdTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// holdUDPPort binds a free UDP port on loopback until the test ends.
func holdUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).Port
}

// released checks that every address a failed run opened is free again.
func released(t *testing.T, tcp []string, udp []int) {
	t.Helper()
	for _, a := range tcp {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("tcp %s still open after the failed start: %v", a, err)
			continue
		}
		ln.Close()
	}
	for _, p := range udp {
		c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("udp %d still open after the failed start: %v", p, err)
			continue
		}
		c.Close()
	}
}

// TestStartIsAllOrNothing makes a later part of a command fail to start
// after earlier parts (store, origin, listeners) started, and checks the
// command returns the error with every listener it opened closed and no
// goroutine of its nodes left.
func TestStartIsAllOrNothing(t *testing.T) {
	redis := redistest.Start(t, redistest.Options{})
	redisURL := "redis://" + redis.Addr() + "/0"
	const token = "start-test-token-0123456789"

	type run struct {
		env      map[string]string
		wantErr  string
		freedTCP []string // must be free again after the failure
		freedUDP []int
	}
	tests := []struct {
		name  string
		cmd   string
		build func(t *testing.T) run
	}{
		{"demo: edge http_addr taken after the origin started", "demo", func(t *testing.T) run {
			oHTTP, oRTSP, oICE, eICE := freeTCP(t), freeTCP(t), freeUDPPort(t), freeUDPPort(t)
			return run{env: map[string]string{
				"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_CAMERA": "false",
				"LIVEDROP_ORIGIN_HTTP_ADDR": oHTTP, "LIVEDROP_ORIGIN_RTSP_ADDR": oRTSP,
				"LIVEDROP_ORIGIN_ICE_UDP_PORT": strconv.Itoa(oICE), "LIVEDROP_EDGE_ICE_UDP_PORT": strconv.Itoa(eICE),
				"LIVEDROP_EDGE_HTTP_ADDR": holdTCP(t),
			}, wantErr: "http_addr", freedTCP: []string{oHTTP, oRTSP}, freedUDP: []int{oICE, eICE}}
		}},
		{"demo: edge ice.udp_port taken after the origin started", "demo", func(t *testing.T) run {
			oHTTP, oRTSP, oICE, eHTTP := freeTCP(t), freeTCP(t), freeUDPPort(t), freeTCP(t)
			return run{env: map[string]string{
				"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_CAMERA": "false",
				"LIVEDROP_ORIGIN_HTTP_ADDR": oHTTP, "LIVEDROP_ORIGIN_RTSP_ADDR": oRTSP,
				"LIVEDROP_ORIGIN_ICE_UDP_PORT": strconv.Itoa(oICE), "LIVEDROP_EDGE_ICE_UDP_PORT": strconv.Itoa(holdUDPPort(t)),
				"LIVEDROP_EDGE_HTTP_ADDR": eHTTP,
			}, wantErr: "udp", freedTCP: []string{oHTTP, oRTSP, eHTTP}, freedUDP: []int{oICE}}
		}},
		{"demo: origin http_addr taken after the store opened", "demo", func(t *testing.T) run {
			oRTSP, oICE, eHTTP, eICE := freeTCP(t), freeUDPPort(t), freeTCP(t), freeUDPPort(t)
			return run{env: map[string]string{
				"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_CAMERA": "false", "LIVEDROP_REDIS_URL": redisURL,
				"LIVEDROP_ORIGIN_HTTP_ADDR": holdTCP(t), "LIVEDROP_ORIGIN_RTSP_ADDR": oRTSP,
				"LIVEDROP_ORIGIN_ICE_UDP_PORT": strconv.Itoa(oICE), "LIVEDROP_EDGE_ICE_UDP_PORT": strconv.Itoa(eICE),
				"LIVEDROP_EDGE_HTTP_ADDR": eHTTP,
			}, wantErr: "http_addr", freedTCP: []string{oRTSP, eHTTP}, freedUDP: []int{oICE, eICE}}
		}},
		{"demo: the sample drop cannot be seeded (Redis down) after both nodes started", "demo", func(t *testing.T) run {
			oHTTP, oRTSP, oICE, eHTTP, eICE := freeTCP(t), freeTCP(t), freeUDPPort(t), freeTCP(t), freeUDPPort(t)
			return run{env: map[string]string{
				"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_CAMERA": "false",
				"LIVEDROP_REDIS_URL":        "redis://" + freeTCP(t) + "/0",
				"LIVEDROP_ORIGIN_HTTP_ADDR": oHTTP, "LIVEDROP_ORIGIN_RTSP_ADDR": oRTSP,
				"LIVEDROP_ORIGIN_ICE_UDP_PORT": strconv.Itoa(oICE), "LIVEDROP_EDGE_ICE_UDP_PORT": strconv.Itoa(eICE),
				"LIVEDROP_EDGE_HTTP_ADDR": eHTTP,
			}, wantErr: "sample drop", freedTCP: []string{oHTTP, oRTSP, eHTTP}, freedUDP: []int{oICE, eICE}}
		}},
		{"origin: http_addr taken after rtsp and ice listen", "origin", func(t *testing.T) run {
			oRTSP, oICE := freeTCP(t), freeUDPPort(t)
			return run{env: map[string]string{
				"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_PUBLISH_PASSWORD": "secret", "LIVEDROP_NODE_SECRET": testNodeSecret,
				"LIVEDROP_READ_USER": "viewer", "LIVEDROP_READ_PASSWORD": "read-secret",
				"LIVEDROP_REDIS_URL": redisURL, "LIVEDROP_CONTROL_TOKEN": token,
				"LIVEDROP_HTTP_ADDR": holdTCP(t), "LIVEDROP_RTSP_ADDR": oRTSP,
				"LIVEDROP_RTSP_UDP_RTP_ADDR": "", "LIVEDROP_RTSP_UDP_RTCP_ADDR": "",
				"LIVEDROP_ICE_UDP_PORT": strconv.Itoa(oICE),
			}, wantErr: "http_addr", freedTCP: []string{oRTSP}, freedUDP: []int{oICE}}
		}},
		{"edge: http_addr taken after the store and ice opened", "edge", func(t *testing.T) run {
			eICE := freeUDPPort(t)
			return run{env: map[string]string{
				"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_REDIS_URL": redisURL, "LIVEDROP_NODE_SECRET": testNodeSecret,
				"LIVEDROP_SESSION_SECRET": buyertest.Secret,
				"LIVEDROP_HTTP_ADDR":      holdTCP(t), "LIVEDROP_ICE_UDP_PORT": strconv.Itoa(eICE),
			}, wantErr: "http_addr", freedUDP: []int{eICE}}
		}},
		{"edge: taking orders without a buyer session secret", "edge", func(t *testing.T) run {
			eHTTP, eICE := freeTCP(t), freeUDPPort(t)
			return run{env: map[string]string{
				"LIVEDROP_DATA_DIR": t.TempDir(), "LIVEDROP_REDIS_URL": redisURL, "LIVEDROP_NODE_SECRET": testNodeSecret,
				"LIVEDROP_HTTP_ADDR": eHTTP, "LIVEDROP_ICE_UDP_PORT": strconv.Itoa(eICE),
			}, wantErr: "buyer.session_secrets", freedTCP: []string{eHTTP}, freedUDP: []int{eICE}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.build(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out strings.Builder
			ready := false
			err := Main(ctx, []string{tc.cmd}, Env{Stdout: &out, Stderr: &out, Lookup: envOf(r.env),
				Ready: func(Addrs) { ready = true }})
			if err == nil || !strings.Contains(err.Error(), r.wantErr) {
				t.Fatalf("error %v, want one naming %q\n%s", err, r.wantErr, out.String())
			}
			if ready {
				t.Fatal("Ready was told addresses of a command that failed to start")
			}
			released(t, r.freedTCP, r.freedUDP)
			if leak := leakcheck.Leaked(5*time.Second, nodeGoroutines...); leak != "" {
				t.Fatalf("goroutines outlive the failed start:\n%s", leak)
			}
		})
	}
}

// freeUDPPort returns a UDP port nobody uses on loopback now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
