//go:build !linux

package whep

import "net"

// withGRO returns c: UDP GRO is Linux's.
func withGRO(c net.PacketConn) net.PacketConn { return c }
