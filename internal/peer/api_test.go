package peer

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestPublicIPsAnnounced: with ice.public_ips (1:1 NAT) the node's host
// candidates carry the public address instead of its own.
func TestPublicIPsAnnounced(t *testing.T) {
	cfg := DefaultICEConfig()
	cfg.PublicIPs = []string{"203.0.113.7"}
	api, closeICE, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeICE()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		t.Fatal("gathering did not complete")
	}
	sdp := pc.LocalDescription().SDP
	if !strings.Contains(sdp, " 203.0.113.7 ") {
		t.Fatalf("no candidate with the public address:\n%s", sdp)
	}
	// The mapping is per address family: an IPv4 public address replaces
	// the IPv4 host candidates.
	for _, line := range strings.Split(sdp, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "a=candidate:") || f[7] != "host" || strings.Contains(f[4], ":") {
			continue
		}
		if f[4] != "203.0.113.7" {
			t.Fatalf("an IPv4 host candidate still shows the local address: %s", line)
		}
	}
}

func TestICEConfigValidate(t *testing.T) {
	tests := []struct {
		mod  func(*ICEConfig)
		want string
	}{
		{func(c *ICEConfig) { c.PublicIPs = []string{"nope"} }, "ice.public_ips"},
		{func(c *ICEConfig) { c.UDPPort = 70000 }, "ice.udp_port"},
		{func(c *ICEConfig) { c.TCPPort = -1 }, "ice.tcp_port"},
		{func(c *ICEConfig) { c.Servers = []string{"http://stun.example"} }, "ice.servers"},
		{func(c *ICEConfig) { c.FailedTimeout = time.Millisecond }, "ice.failed_timeout"},
	}
	for _, tc := range tests {
		c := DefaultICEConfig()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one naming %s", err, tc.want)
		}
	}
}
