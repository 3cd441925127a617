package udpbatch

import (
	"net"
	"syscall"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
)

// SetSocketBuffers asks for size-byte send and receive buffers. The kernel
// caps a plain request at net.core.rmem_max/wmem_max (208 KiB on a stock
// machine); a privileged process may exceed it (SO_*BUFFORCE). A keyframe
// of a few hundred kilobytes arriving at once needs the room.
func SetSocketBuffers(c syscall.Conn, size int) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		for _, opt := range [][2]int{{syscall.SO_RCVBUF, syscall.SO_RCVBUFFORCE}, {syscall.SO_SNDBUF, syscall.SO_SNDBUFFORCE}} {
			if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt[1], size) != nil {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt[0], size)
			}
		}
	})
}

// bufferedNet is the standard network whose UDP sockets get big buffers:
// what a player with a port per session (the load generator) listens on.
// With gro, its UDP sockets take coalesced datagrams (gro_linux.go).
type bufferedNet struct {
	*stdnet.Net
	size int
	gro  bool
}

// NewBufferedNet returns the standard network, its UDP sockets with size
// bytes of buffer (0: the kernel's default) and, with gro, taking
// coalesced datagrams.
func NewBufferedNet(size int, gro bool) (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &bufferedNet{Net: n, size: size, gro: gro}, nil
}

// ListenPacket listens as the standard network does, with the buffers.
func (n *bufferedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return c, err
	}
	if sc, ok := c.(syscall.Conn); ok && n.size > 0 {
		SetSocketBuffers(sc, n.size)
	}
	if n.gro {
		c = WithGRO(c)
	}
	return c, nil
}

// ListenUDP listens as the standard network does, with the buffers.
func (n *bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return c, err
	}
	if sc, ok := c.(syscall.Conn); ok && n.size > 0 {
		SetSocketBuffers(sc, n.size)
	}
	if n.gro {
		if g, ok := WithGRO(c).(transport.UDPConn); ok {
			c = g
		}
	}
	return c, nil
}
