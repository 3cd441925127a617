package peer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/udpbatch"
)

// SendStats are the counts of a node's media sockets (udpbatch.SendStats),
// exposed as Prometheus counters.
type SendStats struct {
	udpbatch.SendStats
}

// Register exposes the counts on reg.
func (s *SendStats) Register(reg prometheus.Registerer) error {
	for _, c := range []struct {
		name, help string
		v          func() uint64
	}{
		{"livedrop_media_send_packets_total", "Packets written to the node's media UDP socket.", s.Packets},
		{"livedrop_media_send_datagrams_total", "UDP datagrams those packets left in; with GSO one datagram carries several packets to one viewer.", s.Datagrams},
		{"livedrop_media_send_syscalls_total", "sendmmsg system calls made for them.", s.Syscalls},
		{"livedrop_media_send_errors_total", "Datagrams the kernel refused.", s.Errors},
	} {
		v := c.v
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(v()) })); err != nil {
			return err
		}
	}
	return nil
}
