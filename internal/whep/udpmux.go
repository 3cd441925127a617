package whep

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v4/udp"
)

// Writes to viewers leave in batches of up to batchSize packets, one
// sendmmsg each, at most batchInterval after they were queued: the
// per-packet system call was a third of the forwarding cost (FIELD-NOTES).
const (
	batchSize     = 64
	batchInterval = 500 * time.Microsecond
	udpBufferSize = 4 << 20
)

// newUDPMux listens on port on every local address (loopback only when
// asked) and muxes all sessions' media over those sockets, with batched
// writes.
func newUDPMux(port int, includeLoopback bool) (ice.UDPMux, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list interface addresses: %w", err)
	}
	var muxes []ice.UDPMux
	closeAll := func() {
		for _, m := range muxes {
			_ = m.Close()
		}
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipn.IP
		if ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() || (ip.IsLoopback() && !includeLoopback) {
			continue
		}
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen on %s: %w", net.JoinHostPort(ip.String(), fmt.Sprint(port)), err)
		}
		_ = conn.SetReadBuffer(udpBufferSize)
		_ = conn.SetWriteBuffer(udpBufferSize)
		bc := udp.NewBatchConn(conn, batchSize, batchInterval)
		muxes = append(muxes, ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: bc}))
	}
	if len(muxes) == 0 {
		return nil, errors.New("no usable local address")
	}
	return ice.NewMultiUDPMuxDefault(muxes...), nil
}
