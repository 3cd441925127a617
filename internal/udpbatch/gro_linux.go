package udpbatch

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"
)

// groConn is a player's UDP socket that takes coalesced datagrams (UDP
// GRO) and hands them to pion one packet at a time. On loopback the kernel
// runs the receiver's UDP input in the sender's context: without GRO it
// cuts every GSO datagram of the node's media socket back into packets,
// queues each on the socket and wakes the reader for it, all billed to the
// node. With GRO the datagram is queued whole, as it would be by a NIC on
// a real network, and the load generator splits it here.
type groConn struct {
	*net.UDPConn

	mu       sync.Mutex
	buf, oob []byte
	off, end int
	seg      int
	from     netip.AddrPort
	merged   int // datagrams that held more than one packet
}

// WithGRO turns on UDP GRO on c, or returns c as it is when the kernel
// refuses.
func WithGRO(c net.PacketConn) net.PacketConn {
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return c
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return c
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
	}); err != nil || serr != nil {
		return c
	}
	return &groConn{UDPConn: uc, buf: make([]byte, 1<<16), oob: make([]byte, unix.CmsgSpace(4))}
}

// ReadFromAddrPort returns the next packet: the next segment of the last
// coalesced datagram, or a new datagram's first.
func (c *groConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off >= c.end {
		n, oobn, _, from, err := c.ReadMsgUDPAddrPort(c.buf, c.oob)
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		c.off, c.end, c.seg, c.from = 0, n, n, from
		if msgs, err := unix.ParseSocketControlMessage(c.oob[:oobn]); err == nil {
			for _, m := range msgs {
				// The segment size, an int in the machine's order.
				if m.Header.Level == unix.SOL_UDP && m.Header.Type == unix.UDP_GRO && len(m.Data) >= 4 {
					if s := int(binary.NativeEndian.Uint32(m.Data)); s > 0 {
						c.seg = s
					}
				}
			}
		}
	}
	if c.off == 0 && c.seg < c.end {
		c.merged++
	}
	k := min(c.seg, c.end-c.off)
	n := copy(b, c.buf[c.off:c.off+k])
	c.off += k
	return n, c.from, nil
}

// ReadFromUDP is ReadFromAddrPort with a *net.UDPAddr.
func (c *groConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, from, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// ReadFrom is ReadFromAddrPort with a net.Addr.
func (c *groConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}
