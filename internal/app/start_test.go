package app

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/leakcheck"
)

// freePort returns a port that was free on every address a moment ago.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDemoStartsAllOrNothing makes the demo's edge fail to start after the
// store and the origin did (its HTTP port is taken), and checks that the
// command refuses with the key named and leaves nothing behind: every port
// the origin and the edge opened can be bound again at once, and no
// goroutine of theirs is alive.
func TestDemoStartsAllOrNothing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	originHTTP, rtsp := freePort(t, "tcp"), freePort(t, "tcp")
	originUDP, edgeUDP := freePort(t, "udp"), freePort(t, "udp")
	env := map[string]string{
		"LIVEDROP_DATA_DIR":            t.TempDir(),
		"LIVEDROP_CAMERA":              "false",
		"LIVEDROP_ORIGIN_HTTP_ADDR":    "127.0.0.1:" + strconv.Itoa(originHTTP),
		"LIVEDROP_ORIGIN_RTSP_ADDR":    "127.0.0.1:" + strconv.Itoa(rtsp),
		"LIVEDROP_ORIGIN_ICE_UDP_PORT": strconv.Itoa(originUDP),
		"LIVEDROP_EDGE_ICE_UDP_PORT":   strconv.Itoa(edgeUDP),
		"LIVEDROP_EDGE_HTTP_ADDR":      taken.Addr().String(),
	}
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = Main(ctx, []string{"demo"}, Env{Stdout: &out, Stderr: &out, Lookup: envOf(env)})
	if err == nil || !strings.Contains(err.Error(), "http_addr") {
		t.Fatalf("demo with its edge's port taken: %v, want an error naming http_addr", err)
	}
	for _, port := range []int{originHTTP, rtsp} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Errorf("TCP port %d still taken after the failed start: %v", port, err)
			continue
		}
		ln.Close()
	}
	for _, port := range []int{originUDP, edgeUDP} {
		c, err := net.ListenPacket("udp", ":"+strconv.Itoa(port))
		if err != nil {
			t.Errorf("UDP port %d still taken after the failed start: %v", port, err)
			continue
		}
		c.Close()
	}
	if leak := leakcheck.Leaked(5*time.Second, "livedrop/origin.", "livedrop/edge.", "livedrop/checkout.",
		"livedrop/overlay.", "livedrop/internal/whep.", "gortsplib", "pion/ice"); leak != "" {
		t.Errorf("goroutines left after the failed start:\n%s", leak)
	}
}
