package udpbatch

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ReadFromAddrPort and WriteToAddrPort let pion's UDP mux skip net.Addr
// allocations (ice.AddrPortReaderWriter).
//
// The read is a raw system call, as the send is (sendSome): MSG_DONTWAIT
// never blocks, and the runtime waits for readability as for any socket.
// An ordinary call enters the scheduler's syscall state, and the first one
// after the node went idle wakes the runtime's monitor thread, which then
// polls every 20 us for a millisecond: at 500 viewers the node idles
// between frames, and the monitor took 3.6% of its CPU (perf).
func (c *Conn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	if len(b) == 0 { // recvSome needs a byte to point at
		return c.ReadFromUDPAddrPort(b)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rbuf, c.rn, c.rerr = b, 0, 0
	err := c.raw.Read(c.recvFn)
	c.rbuf = nil
	if err != nil {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: err}
	}
	if c.rerr != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: os.NewSyscallError("recvfrom", c.rerr)}
	}
	return c.rn, c.from(), nil
}

// recvSome is the raw read: one recvfrom into c.rbuf. It reports false to
// wait for the socket to become readable.
func (c *Conn) recvSome(fd uintptr) bool {
	for {
		salen := uint32(unsafe.Sizeof(c.rfrom))
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&c.rfrom)), uintptr(unsafe.Pointer(&salen)))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case 0:
			c.rn = int(r)
		default:
			c.rerr = e
		}
		return true
	}
}

// from is the source address of the datagram read, as the net package
// gives it; under rmu.
func (c *Conn) from() netip.AddrPort {
	sa := &c.rfrom
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port))
	}
	ip := netip.AddrFrom16(sa.Addr)
	if sa.Scope_id != 0 {
		// Link-local peers only; the name is looked up once per scope,
		// not per packet (a netlink round trip).
		if sa.Scope_id != c.zoneID {
			c.zoneID, c.zone = sa.Scope_id, strconv.Itoa(int(sa.Scope_id))
			if ifi, err := net.InterfaceByIndex(int(sa.Scope_id)); err == nil {
				c.zone = ifi.Name
			}
		}
		ip = ip.WithZone(c.zone)
	}
	return netip.AddrPortFrom(ip, ntohs(sa.Port))
}
