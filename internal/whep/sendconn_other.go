//go:build !linux

package whep

import (
	"log/slog"
	"net"
	"time"

	"github.com/pion/transport/v4/udp"
)

// newMediaConn wraps a media socket for batched sends: pion's batch
// connection where the platform has no UDP GSO path of ours.
func newMediaConn(conn net.PacketConn, _ *slog.Logger, _ *SendStats) (net.PacketConn, error) {
	return udp.NewBatchConn(conn, 64, 500*time.Microsecond), nil
}
