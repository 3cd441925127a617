//go:build !linux

package udpbatch

import "net"

// WithGRO returns c: UDP GRO is Linux's.
func WithGRO(c net.PacketConn) net.PacketConn { return c }
