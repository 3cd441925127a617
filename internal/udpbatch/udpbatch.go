// Package udpbatch is a node's UDP media socket: it sends packets in
// batches (one sendmmsg per batch, each destination's packets joined into
// UDP GSO datagrams), reads coalesced datagrams (GRO) for a receiver, sizes
// socket buffers, and counts what it sent.
//
// It knows no WebRTC and no HTTP: pion's ICE mux reads and writes through
// it as through any net.PacketConn, and a sender that protects its own
// packets (srtpdirect) writes them in place into a batch (Conn.Reserve).
package udpbatch

import "sync/atomic"

// BufferSize is the send and receive buffer a node's media socket asks for
// (SetSocketBuffers): room for a keyframe burst to many viewers.
const BufferSize = 4 << 20

// SendStats counts what a node's media sockets sent: packets, the UDP
// datagrams they left in (fewer with GSO), the system calls, and the
// packets the kernel refused. The node exposes them as metrics; this
// package does not import a metrics library (it would bring net/http).
type SendStats struct {
	packets, datagrams, calls, errors atomic.Uint64
}

// Packets returns how many packets were written.
func (s *SendStats) Packets() uint64 { return s.packets.Load() }

// Datagrams returns how many UDP datagrams those packets left in.
func (s *SendStats) Datagrams() uint64 { return s.datagrams.Load() }

// Syscalls returns how many sendmmsg system calls were made for them.
func (s *SendStats) Syscalls() uint64 { return s.calls.Load() }

// Errors returns how many datagrams the kernel refused.
func (s *SendStats) Errors() uint64 { return s.errors.Load() }
