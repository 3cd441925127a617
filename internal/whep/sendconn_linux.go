package whep

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendConn is the node's media socket. Writes from every session are
// copied into a batch; a flusher sends the batch at most sendInterval after
// its first packet, or at once when it fills. A batch leaves in one
// sendmmsg, with each destination's packets joined into UDP GSO datagrams
// (UDP_SEGMENT): the kernel walks its send path once per datagram instead of
// once per packet. On loopback that cut the kernel's cost per packet from
// 7.4 µs to 1.7 µs with 7 packets per datagram (measured on this machine);
// a frame of video to one viewer is several equal-size packets. Reads go
// straight to the socket.
type sendConn struct {
	*net.UDPConn
	raw  syscall.RawConn
	log  *slog.Logger
	stat *SendStats
	v6   bool // the socket is IPv6: destinations are sockaddr_in6

	mu      sync.Mutex
	room    *sync.Cond // signalled when a full batch has been swapped out
	sealed  *sync.Cond // signalled when a batch's last reservation is released
	cur     *sendBatch
	spare   *sendBatch // sent by the flusher while cur fills
	closing bool

	pending chan struct{} // a packet landed in an empty batch
	full    chan struct{} // the batch reached sendFlushAt
	done    chan struct{} // the flusher has stopped

	gso bool // only the flusher reads and writes it after start

	// state of the send in progress, for sendFn (no closure per call)
	sendFn   func(fd uintptr) bool
	sendHdrs []mmsghdr
	sendErr  syscall.Errno
	sendN    int

	// state of the read in progress, for recvFn; under rmu
	rmu    sync.Mutex
	recvFn func(fd uintptr) bool
	rbuf   []byte
	rn     int
	rerr   syscall.Errno
	rfrom  unix.RawSockaddrInet6 // large enough for either family
	zoneID uint32                // the last IPv6 scope seen, and its name
	zone   string
}

// Batch limits. UDP GSO takes at most 64 segments and 64 KiB per datagram
// on the kernels we run on; sendmmsg takes at most 1024 messages.
const (
	sendBatchPackets = 1024
	sendBatchBytes   = sendBatchPackets * 1500
	sendFlushAt      = sendBatchPackets * 3 / 4
	sendInterval     = 500 * time.Microsecond
	gsoMaxSegments   = 64
	gsoMaxBytes      = 64000
)

// mmsghdr is struct mmsghdr of linux/amd64 and arm64.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

type queued struct {
	dst    netip.AddrPort
	off, n int32
}

type sendBatch struct {
	arena []byte
	msgs  []queued
	// reservations being filled (reserve); the flusher sends the batch
	// when none is left. Under sendConn.mu.
	filling int

	// scratch for send, reused
	dests map[netip.AddrPort]int32 // destination -> index in first/last
	first []int32
	last  []int32
	next  []int32
	names []unix.RawSockaddrInet6
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	cmsgs []byte
}

var cmsgSize = unix.CmsgSpace(2)

func newSendBatch() *sendBatch {
	return &sendBatch{
		arena: make([]byte, 0, sendBatchBytes),
		msgs:  make([]queued, 0, sendBatchPackets),
		dests: make(map[netip.AddrPort]int32),
		next:  make([]int32, sendBatchPackets),
		names: make([]unix.RawSockaddrInet6, 0, sendBatchPackets),
		hdrs:  make([]mmsghdr, 0, sendBatchPackets),
		iovs:  make([]unix.Iovec, 0, sendBatchPackets),
		cmsgs: make([]byte, sendBatchPackets*cmsgSize),
	}
}

func (b *sendBatch) fits(n int) bool {
	return len(b.msgs) < cap(b.msgs) && len(b.arena)+n <= cap(b.arena)
}

// newSendConn wraps conn. GSO is used when the kernel supports it.
func newSendConn(conn *net.UDPConn, log *slog.Logger, stat *SendStats) (*sendConn, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	c := &sendConn{
		UDPConn: conn, raw: raw, log: log, stat: stat,
		cur: newSendBatch(), spare: newSendBatch(),
		pending: make(chan struct{}, 1), full: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if la, ok := conn.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil {
		c.v6 = true
	}
	c.room = sync.NewCond(&c.mu)
	c.sealed = sync.NewCond(&c.mu)
	c.sendFn = c.sendSome
	c.recvFn = c.recvSome
	_ = raw.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
		c.gso = err == nil
	})
	go c.flusher()
	return c, nil
}

// ReadFromAddrPort and WriteToAddrPort let pion's UDP mux skip net.Addr
// allocations (ice.AddrPortReaderWriter).
//
// The read is a raw system call, as the send is (sendSome): MSG_DONTWAIT
// never blocks, and the runtime waits for readability as for any socket.
// An ordinary call enters the scheduler's syscall state, and the first one
// after the node went idle wakes the runtime's monitor thread, which then
// polls every 20 us for a millisecond: at 500 viewers the node idles
// between frames, and the monitor took 3.6% of its CPU (perf).
func (c *sendConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
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
func (c *sendConn) recvSome(fd uintptr) bool {
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
func (c *sendConn) from() netip.AddrPort {
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

// WriteTo queues b for addr.
func (c *sendConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("write to %v: not a UDP address", addr)
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// WriteToAddrPort queues b for dst; it blocks only while a full batch waits
// for the flusher.
func (c *sendConn) WriteToAddrPort(b []byte, dst netip.AddrPort) (int, error) {
	if len(b) > 1500 {
		// Not media (nothing we send is this big): send it alone.
		return c.WriteToUDPAddrPort(b, dst)
	}
	c.mu.Lock()
	for !c.cur.fits(len(b)) && !c.closing {
		signal(c.full)
		c.room.Wait()
	}
	if c.closing {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	bt := c.cur
	off := len(bt.arena)
	bt.arena = append(bt.arena, b...)
	bt.msgs = append(bt.msgs, queued{dst: dst, off: int32(off), n: int32(len(b))})
	n := len(bt.msgs)
	c.mu.Unlock()
	if n == 1 {
		signal(c.pending)
	} else if n == sendFlushAt {
		signal(c.full)
	}
	return len(b), nil
}

// reserve places packets of the given sizes to dst in the batch being
// filled: the first one, and as many after it as fit. The caller writes
// them into room, in order and back to back, and then calls release. A
// sender protects its packets in place this way, instead of in a buffer
// of its own copied into the batch, and takes the lock once per run of
// packets instead of once per packet. A caller holds one reservation at
// a time: the flusher waits for it before it sends the batch.
func (c *sendConn) reserve(dst netip.AddrPort, sizes []int32) (room []byte, n int, tok any, err error) {
	c.mu.Lock()
	for !c.cur.fits(int(sizes[0])) && !c.closing {
		signal(c.full)
		c.room.Wait()
	}
	if c.closing {
		c.mu.Unlock()
		return nil, 0, nil, net.ErrClosed
	}
	bt := c.cur
	before := len(bt.msgs)
	off := len(bt.arena)
	end := off
	for _, sz := range sizes {
		if len(bt.msgs) == cap(bt.msgs) || end+int(sz) > cap(bt.arena) {
			break
		}
		bt.msgs = append(bt.msgs, queued{dst: dst, off: int32(end), n: sz})
		end += int(sz)
	}
	bt.arena = bt.arena[:end]
	room = bt.arena[off:end:end]
	bt.filling++
	after := len(bt.msgs)
	c.mu.Unlock()
	if before == 0 {
		signal(c.pending)
	}
	if before < sendFlushAt && after >= sendFlushAt {
		signal(c.full)
	}
	return room, after - before, bt, nil
}

// release ends a reservation: its packets are written.
func (c *sendConn) release(tok any) {
	bt := tok.(*sendBatch)
	c.mu.Lock()
	if bt.filling--; bt.filling == 0 {
		c.sealed.Broadcast()
	}
	c.mu.Unlock()
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Close sends what is queued and closes the socket.
func (c *sendConn) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.room.Broadcast()
	c.mu.Unlock()
	signal(c.pending)
	<-c.done
	return c.UDPConn.Close()
}

func (c *sendConn) flusher() {
	defer close(c.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		<-c.pending
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if !closing {
			timer.Reset(sendInterval)
			select {
			case <-timer.C:
			case <-c.full:
				timer.Stop()
			}
		}
		c.mu.Lock()
		b := c.cur
		c.cur, c.spare = c.spare, b
		closing = c.closing
		c.room.Broadcast()
		for b.filling > 0 {
			c.sealed.Wait()
		}
		c.mu.Unlock()
		select {
		case <-c.full: // stale: that batch is being sent
		default:
		}
		c.send(b)
		b.arena, b.msgs = b.arena[:0], b.msgs[:0]
		if closing {
			return
		}
		c.mu.Lock()
		if len(c.cur.msgs) > 0 {
			signal(c.pending)
		}
		c.mu.Unlock()
	}
}

// send writes batch b: each destination's packets in order, runs of
// equal-size packets (the last may be shorter) joined into GSO datagrams.
func (c *sendConn) send(b *sendBatch) {
	if len(b.msgs) == 0 {
		return
	}
	// Link each destination's packets in queue order.
	clear(b.dests)
	b.first, b.last, b.names = b.first[:0], b.last[:0], b.names[:0]
	for i, m := range b.msgs {
		b.next[i] = -1
		d, ok := b.dests[m.dst]
		if !ok {
			d = int32(len(b.first))
			b.dests[m.dst] = d
			b.first = append(b.first, int32(i))
			b.last = append(b.last, int32(i))
			b.names = append(b.names, c.sockaddr(m.dst))
			continue
		}
		b.next[b.last[d]] = int32(i)
		b.last[d] = int32(i)
	}
	b.hdrs, b.iovs = b.hdrs[:0], b.iovs[:0]
	nameLen := uint32(unix.SizeofSockaddrInet4)
	if c.v6 {
		nameLen = unix.SizeofSockaddrInet6
	}
	for d, i := range b.first {
		for i >= 0 {
			// One datagram: packet i and, with GSO, the packets after it of
			// the same size, ending at a shorter one.
			start := len(b.iovs)
			seg := b.msgs[i].n
			total := int32(0)
			for i >= 0 && len(b.iovs)-start < gsoMaxSegments && total+b.msgs[i].n <= gsoMaxBytes {
				m := b.msgs[i]
				if len(b.iovs) > start && (!c.gso || m.n > seg) {
					break
				}
				iov := unix.Iovec{Base: &b.arena[m.off]}
				iov.SetLen(int(m.n))
				b.iovs = append(b.iovs, iov)
				total += m.n
				i = b.next[i]
				if m.n < seg {
					break // a shorter packet ends the datagram
				}
			}
			var h mmsghdr
			h.hdr.Name = (*byte)(unsafe.Pointer(&b.names[d]))
			h.hdr.Namelen = nameLen
			h.hdr.Iov = &b.iovs[start]
			h.hdr.SetIovlen(len(b.iovs) - start)
			if segs := len(b.iovs) - start; segs > 1 {
				cm := b.cmsgs[len(b.hdrs)*cmsgSize : (len(b.hdrs)+1)*cmsgSize]
				ch := (*unix.Cmsghdr)(unsafe.Pointer(&cm[0]))
				ch.Level, ch.Type = unix.SOL_UDP, unix.UDP_SEGMENT
				ch.SetLen(unix.CmsgLen(2))
				*(*uint16)(unsafe.Pointer(&cm[unix.CmsgLen(0)])) = uint16(seg)
				h.hdr.Control = &cm[0]
				h.hdr.SetControllen(cmsgSize)
			}
			b.hdrs = append(b.hdrs, h)
		}
	}
	c.stat.packets.Add(uint64(len(b.msgs)))
	c.stat.datagrams.Add(uint64(len(b.hdrs)))
	hdrs := b.hdrs
	for len(hdrs) > 0 {
		c.sendHdrs, c.sendErr, c.sendN = hdrs, 0, 0
		err := c.raw.Write(c.sendFn)
		c.stat.calls.Add(1)
		if err != nil { // the socket is closed
			c.stat.errors.Add(uint64(len(hdrs)))
			return
		}
		hdrs = hdrs[c.sendN:]
		if c.sendErr != 0 {
			// The first message of what is left failed: count it, skip it.
			c.stat.errors.Add(1)
			if c.gso && hdrs[0].hdr.Controllen > 0 && (c.sendErr == unix.EIO || c.sendErr == unix.EINVAL || c.sendErr == unix.EOPNOTSUPP) {
				c.gso = false
				c.log.Warn("UDP GSO refused by the kernel; sending packets one by one", "err", c.sendErr)
			}
			hdrs = hdrs[1:]
		}
	}
}

// sendSome is the raw write: one sendmmsg of c.sendHdrs. It reports false
// to wait for the socket to become writable.
//
// It is a raw system call: the thread keeps its P while the kernel sends
// (MSG_DONTWAIT: it never blocks, a full batch takes well under a
// millisecond). With an ordinary call the runtime's monitor took the P
// from the sending thread every time and handed it to another, and kept
// polling every 20 us to do so: on two cores, three threads fought for
// them. Measured at 500 viewers, alternating: 5.23 and 5.53 us of CPU per
// delivered packet against 5.82 and 6.01.
func (c *sendConn) sendSome(fd uintptr) bool {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&c.sendHdrs[0])), uintptr(len(c.sendHdrs)), unix.MSG_DONTWAIT, 0, 0)
	switch {
	case e == unix.EAGAIN:
		return false
	case e == unix.EINTR:
		return c.sendSome(fd)
	case e != 0:
		c.sendErr = e
	default:
		c.sendN = int(r)
	}
	return true
}

func (c *sendConn) sockaddr(a netip.AddrPort) unix.RawSockaddrInet6 {
	var sa unix.RawSockaddrInet6
	ip := a.Addr()
	port := a.Port()
	if !c.v6 {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
		sa4.Family = unix.AF_INET
		sa4.Port = htons(port)
		sa4.Addr = ip.Unmap().As4()
		return sa
	}
	sa.Family = unix.AF_INET6
	sa.Port = htons(port)
	sa.Addr = ip.As16()
	return sa
}

// htons returns port as a sockaddr holds it: network byte order in
// memory, whatever the machine's order.
func htons(port uint16) uint16 {
	var v uint16
	b := (*[2]byte)(unsafe.Pointer(&v))
	b[0], b[1] = byte(port>>8), byte(port)
	return v
}

// ntohs is htons's inverse.
func ntohs(port uint16) uint16 { return htons(port) }

var errNoUDP = errors.New("not a UDP socket")

// newMediaConn wraps a media socket for batched sends.
func newMediaConn(conn net.PacketConn, log *slog.Logger, stat *SendStats) (net.PacketConn, error) {
	uc, ok := conn.(*net.UDPConn)
	if !ok {
		return nil, errNoUDP
	}
	return newSendConn(uc, log, stat)
}
