package peer

import (
	"net"
	"net/netip"

	"github.com/pion/webrtc/v4"

	"github.com/livedrop/livedrop/internal/srtpdirect"
)

// directRoute finds the media socket and destination of an ICE pair, when
// the pair is plain UDP from one of socks.
func directRoute(pair *webrtc.ICECandidatePair, socks []srtpdirect.Socket) (srtpdirect.Socket, netip.AddrPort, bool) {
	if pair == nil || pair.Local == nil || pair.Remote == nil ||
		pair.Local.Protocol != webrtc.ICEProtocolUDP || pair.Local.Typ != webrtc.ICECandidateTypeHost {
		return nil, netip.AddrPort{}, false
	}
	remote, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	local, err := netip.ParseAddr(pair.Local.Address)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	var found srtpdirect.Socket
	for _, s := range socks {
		ua, ok := s.LocalAddr().(*net.UDPAddr)
		if !ok || int(pair.Local.Port) != ua.Port {
			continue
		}
		if a, ok := netip.AddrFromSlice(ua.IP); ok && a.Unmap() == local.Unmap() {
			found = s
			break
		}
	}
	if found == nil && len(socks) == 1 {
		// Announced under a public address (1:1 NAT): the one socket.
		if ua, ok := socks[0].LocalAddr().(*net.UDPAddr); ok && ua.Port == int(pair.Local.Port) {
			found = socks[0]
		}
	}
	if found == nil {
		return nil, netip.AddrPort{}, false
	}
	return found, netip.AddrPortFrom(remote.Unmap(), pair.Remote.Port), true
}
