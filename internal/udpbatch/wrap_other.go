//go:build !linux

package udpbatch

import (
	"log/slog"
	"net"
	"time"

	"github.com/pion/transport/v4/udp"
)

// Wrap makes conn a media socket that sends in batches: pion's batch
// connection where the platform has no UDP GSO path of ours.
func Wrap(conn net.PacketConn, _ *slog.Logger, _ *SendStats) (net.PacketConn, error) {
	return udp.NewBatchConn(conn, 64, 500*time.Microsecond), nil
}
