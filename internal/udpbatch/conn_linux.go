package udpbatch

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is the node's media socket. Writes from every session are
// copied into a batch; a flusher sends the batch at most sendInterval after
// its first packet, or at once when it fills. A batch leaves in one
// sendmmsg, with each destination's packets joined into UDP GSO datagrams
// (UDP_SEGMENT): the kernel walks its send path once per datagram instead of
// once per packet. On loopback that cut the kernel's cost per packet from
// 7.4 µs to 1.7 µs with 7 packets per datagram (measured on this machine);
// a frame of video to one viewer is several equal-size packets. Reads go
// straight to the socket.
type Conn struct {
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

// BatchPackets is the most packets a batch holds: sendmmsg takes at most
// 1024 messages.
const BatchPackets = 1024

// Batch limits. UDP GSO takes at most 64 segments and 64 KiB per datagram
// on the kernels we run on.
const (
	sendBatchPackets = BatchPackets
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
	// reservations being filled (Reserve); the flusher sends the batch
	// when none is left. Under Conn.mu.
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

// New wraps conn. GSO is used when the kernel supports it.
func New(conn *net.UDPConn, log *slog.Logger, stat *SendStats) (*Conn, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	c := &Conn{
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

// WriteTo queues b for addr.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("write to %v: not a UDP address", addr)
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// WriteToAddrPort queues b for dst; it blocks only while a full batch waits
// for the flusher.
func (c *Conn) WriteToAddrPort(b []byte, dst netip.AddrPort) (int, error) {
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

// Reserve places packets of the given sizes to dst in the batch being
// filled: the first one, and as many after it as fit. The caller writes
// them into room, in order and back to back, and then calls Release. A
// sender protects its packets in place this way, instead of in a buffer
// of its own copied into the batch, and takes the lock once per run of
// packets instead of once per packet. A caller holds one reservation at
// a time: the flusher waits for it before it sends the batch.
func (c *Conn) Reserve(dst netip.AddrPort, sizes []int32) (room []byte, n int, tok any, err error) {
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

// Release ends a reservation: its packets are written.
func (c *Conn) Release(tok any) {
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
func (c *Conn) Close() error {
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

func (c *Conn) flusher() {
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

var errNoUDP = errors.New("not a UDP socket")

// Wrap makes conn, a UDP socket, a media socket that sends in batches:
// a *Conn.
func Wrap(conn net.PacketConn, log *slog.Logger, stat *SendStats) (net.PacketConn, error) {
	uc, ok := conn.(*net.UDPConn)
	if !ok {
		return nil, errNoUDP
	}
	return New(uc, log, stat)
}
