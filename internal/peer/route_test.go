package peer

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"github.com/livedrop/livedrop/internal/srtpdirect"
	"github.com/livedrop/livedrop/internal/udpbatch"
	"github.com/pion/webrtc/v4"
)

// TestDirectRoute picks the socket a UDP host pair runs over and refuses
// what it cannot send: TCP, relayed, unknown local addresses.
func TestDirectRoute(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sock, err := udpbatch.Wrap(conn, slog.Default(), &udpbatch.SendStats{})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	ms, ok := sock.(srtpdirect.Socket)
	if !ok {
		t.Skip("no media socket of ours on this platform")
	}
	port := uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	pair := func(proto webrtc.ICEProtocol, typ webrtc.ICECandidateType, local string, lport uint16) *webrtc.ICECandidatePair {
		return &webrtc.ICECandidatePair{
			Local:  &webrtc.ICECandidate{Protocol: proto, Typ: typ, Address: local, Port: lport},
			Remote: &webrtc.ICECandidate{Protocol: proto, Typ: webrtc.ICECandidateTypePrflx, Address: "10.1.2.3", Port: 5000},
		}
	}
	got, dst, ok := directRoute(pair(webrtc.ICEProtocolUDP, webrtc.ICECandidateTypeHost, "127.0.0.1", port), []srtpdirect.Socket{ms})
	if !ok || got != ms || dst != netip.MustParseAddrPort("10.1.2.3:5000") {
		t.Fatalf("host pair: %v %v %v", got, dst, ok)
	}
	// Announced under a public address (1:1 NAT): still the one socket.
	if _, _, ok := directRoute(pair(webrtc.ICEProtocolUDP, webrtc.ICECandidateTypeHost, "203.0.113.7", port), []srtpdirect.Socket{ms}); !ok {
		t.Fatal("1:1 NAT host pair refused")
	}
	for name, p := range map[string]*webrtc.ICECandidatePair{
		"tcp":        pair(webrtc.ICEProtocolTCP, webrtc.ICECandidateTypeHost, "127.0.0.1", port),
		"relay":      pair(webrtc.ICEProtocolUDP, webrtc.ICECandidateTypeRelay, "127.0.0.1", port),
		"other port": pair(webrtc.ICEProtocolUDP, webrtc.ICECandidateTypeHost, "127.0.0.1", port+1),
		"nil":        nil,
	} {
		if _, _, ok := directRoute(p, []srtpdirect.Socket{ms}); ok {
			t.Errorf("%s pair taken for the direct path", name)
		}
	}
}
