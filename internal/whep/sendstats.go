package whep

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// SendStats counts what a node's media sockets sent: packets, the UDP
// datagrams they left in (fewer with GSO), the system calls, and the
// packets the kernel refused.
type SendStats struct {
	packets, datagrams, calls, errors atomic.Uint64
}

// Register exposes the counts on reg.
func (s *SendStats) Register(reg prometheus.Registerer) error {
	for _, c := range []struct {
		name, help string
		v          *atomic.Uint64
	}{
		{"livedrop_media_send_packets_total", "Packets written to the node's media UDP socket.", &s.packets},
		{"livedrop_media_send_datagrams_total", "UDP datagrams those packets left in; with GSO one datagram carries several packets to one viewer.", &s.datagrams},
		{"livedrop_media_send_syscalls_total", "sendmmsg system calls made for them.", &s.calls},
		{"livedrop_media_send_errors_total", "Datagrams the kernel refused.", &s.errors},
	} {
		v := c.v
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(v.Load()) })); err != nil {
			return err
		}
	}
	return nil
}
