package peer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"

	"github.com/livedrop/livedrop/internal/srtpdirect"
	"github.com/livedrop/livedrop/internal/udpbatch"
)

// newUDPMux listens on port on every local address (loopback only when
// asked) and muxes all sessions' media over those sockets, with batched
// writes.
func newUDPMux(port int, includeLoopback bool, log *slog.Logger, logs logging.LoggerFactory, stat *udpbatch.SendStats) (ice.UDPMux, []srtpdirect.Socket, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, nil, fmt.Errorf("list interface addresses: %w", err)
	}
	var muxes []ice.UDPMux
	var socks []srtpdirect.Socket
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
			return nil, nil, fmt.Errorf("listen on %s: %w", net.JoinHostPort(ip.String(), fmt.Sprint(port)), err)
		}
		udpbatch.SetSocketBuffers(conn, udpbatch.BufferSize)
		mc, err := udpbatch.Wrap(conn, log, stat)
		if err != nil {
			_ = conn.Close()
			closeAll()
			return nil, nil, err
		}
		if ms, ok := mc.(srtpdirect.Socket); ok {
			socks = append(socks, ms)
		}
		muxes = append(muxes, ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: mc, Logger: logs.NewLogger("ice")}))
	}
	if len(muxes) == 0 {
		return nil, nil, errors.New("no usable local address")
	}
	return ice.NewMultiUDPMuxDefault(muxes...), socks, nil
}
