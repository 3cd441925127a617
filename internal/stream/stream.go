// Package stream owns the in-memory fan-out of one live stream: the source
// writes RTP packets once, and every reader gets them through its own
// bounded queue. A slow reader drops and counts; it never slows the source
// or another reader. The package knows no protocol.
package stream

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Kind tells video from audio.
type Kind uint8

// Kinds of track.
const (
	Video Kind = iota
	Audio
)

func (k Kind) String() string {
	if k == Video {
		return "video"
	}
	return "audio"
}

// Codec describes a track as WebRTC signals it.
type Codec struct {
	MimeType    string // "video/H264", "audio/opus", "audio/PCMU", "audio/PCMA"
	ClockRate   uint32
	Channels    uint16
	SDPFmtpLine string
}

// Tracks is what a stream carries. Audio is nil for a silent stream.
type Tracks struct {
	Video *Codec
	Audio *Codec
}

// Packet is one RTP packet as every reader receives it. Packets are shared
// by all readers and must not be modified after WritePacket.
type Packet struct {
	Kind     Kind
	Header   rtp.Header
	Payload  []byte
	Keyframe bool      // first packet of a video access unit that starts decoding
	Arrival  time.Time // when the node received the source packet
	// At is the packet's media time on the node's clock (SyncClock): when
	// the source captured it, by its sender reports. Sender reports
	// downstream map RTP time to it, so players keep the source's sync.
	// Zero: unknown (reports use the time the packet was sent).
	At time.Time
}

// ErrClosed is returned when a stream has been closed.
var ErrClosed = errors.New("stream closed")

// DropFunc is told about every packet a reader's full queue refused.
type DropFunc func(p *Packet)

// Stream is one named live stream.
type Stream struct {
	name string

	mu       sync.Mutex
	tracks   Tracks
	online   bool
	closed   bool
	onKeyReq func()

	readers atomic.Pointer[[]*Reader]

	gopMu  sync.Mutex
	gop    []*Packet // video since the last keyframe, for new readers
	gopMax int
	hist   history // recent video packets by sequence number, for NACKs

	lastTS  atomic.Uint64 // 1<<32 | RTP timestamp of the last video packet; 0 before any
	srcOff  atomic.Uint32 // this stream's video timestamps minus its source's
	lastKey atomic.Int64  // unix nanos of the last keyframe request forwarded
	keyGap  time.Duration
}

// New returns an empty stream. Keyframe requests from readers are forwarded
// to the source at most once per keyGap.
func New(name string, keyGap time.Duration) *Stream {
	s := &Stream{name: name, keyGap: keyGap, gopMax: DefaultGOPMax}
	s.readers.Store(&[]*Reader{})
	return s
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.name }

// SetTracks records what the stream carries and marks it online.
func (s *Stream) SetTracks(t Tracks) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracks = t
	s.online = true
}

// SetOffline marks the stream's source as gone. Readers stay attached and
// resume when the source comes back.
func (s *Stream) SetOffline() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.online = false
}

// State returns the tracks and whether the source is online.
func (s *Stream) State() (Tracks, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracks, s.online && !s.closed
}

// Close ends the stream: every reader is told and detached.
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	for _, r := range *s.readers.Swap(&[]*Reader{}) {
		r.close()
	}
}

// OnKeyframeRequest sets what the stream calls when a reader needs a
// keyframe (coalesced to one per keyGap).
func (s *Stream) OnKeyframeRequest(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onKeyReq = f
}

// RequestKeyframe asks the source for a keyframe, unless one was asked for
// within the last keyGap. It reports whether the request was forwarded.
func (s *Stream) RequestKeyframe() bool {
	now := time.Now().UnixNano()
	last := s.lastKey.Load()
	if now-last < int64(s.keyGap) || !s.lastKey.CompareAndSwap(last, now) {
		return false
	}
	s.mu.Lock()
	f := s.onKeyReq
	s.mu.Unlock()
	if f == nil {
		return false
	}
	f()
	return true
}

// Readers returns how many readers are attached.
func (s *Stream) Readers() int { return len(*s.readers.Load()) }

// LastVideoTimestamp is the RTP timestamp of the last video packet
// written: the media time on this node's output timeline.
func (s *Stream) LastVideoTimestamp() (uint32, bool) {
	v := s.lastTS.Load()
	return uint32(v), v != 0
}

// SetSourceOffset records how this stream's video timestamps relate to its
// source's: stream = source + off (a node that rebases its source's
// timestamps, e.g. after an upstream reconnect, sets it as it writes).
func (s *Stream) SetSourceOffset(off uint32) { s.srcOff.Store(off) }

// FromSource maps a video timestamp of the source's timeline onto this
// stream's (the identity until SetSourceOffset).
func (s *Stream) FromSource(ts uint32) uint32 { return ts + s.srcOff.Load() }

// WritePacket hands p to every reader. It never blocks.
func (s *Stream) WritePacket(p *Packet) {
	if p.Kind == Video {
		s.lastTS.Store(1<<32 | uint64(p.Header.Timestamp))
		s.keep(p)
	}
	for _, r := range *s.readers.Load() {
		r.push(p)
	}
}

// AddReader attaches a reader with a queue of size packets.
func (s *Stream) AddReader(size int, onDrop DropFunc) (*Reader, error) {
	r := &Reader{
		stream: s,
		buf:    make([]*Packet, size),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		onDrop: onDrop,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	old := *s.readers.Load()
	next := make([]*Reader, len(old), len(old)+1)
	copy(next, old)
	next = append(next, r)
	s.readers.Store(&next)
	return r, nil
}

// RemoveReader detaches r. It is safe to call more than once.
func (s *Stream) RemoveReader(r *Reader) {
	s.mu.Lock()
	old := *s.readers.Load()
	next := make([]*Reader, 0, len(old))
	for _, x := range old {
		if x != r {
			next = append(next, x)
		}
	}
	s.readers.Store(&next)
	s.mu.Unlock()
	r.close()
}

// Reader receives a stream's packets through a bounded ring buffer.
type Reader struct {
	stream *Stream
	onDrop DropFunc

	mu     sync.Mutex
	buf    []*Packet
	head   int // next to read
	n      int // queued
	closed bool

	wake chan struct{}
	done chan struct{}
}

func (r *Reader) push(p *Packet) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if r.n == len(r.buf) {
		r.mu.Unlock()
		if r.onDrop != nil {
			r.onDrop(p)
		}
		return
	}
	r.buf[(r.head+r.n)%len(r.buf)] = p
	r.n++
	n := r.n
	r.mu.Unlock()
	// The reader is woken once a video frame is complete (its last packet
	// carries the marker), not for each of its packets: its packets then
	// leave together, and a viewer costs one wake-up per frame.
	if p.Kind == Video && !p.Header.Marker && n < len(r.buf)/4 {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Reader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		close(r.done)
	}
}

// Ready is signalled when a frame's last packet, an audio packet, or a
// quarter of the queue is waiting; receive from it, then Drain.
func (r *Reader) Ready() <-chan struct{} { return r.wake }

// Done is closed when the reader is detached or its stream closes.
func (r *Reader) Done() <-chan struct{} { return r.done }

// Drain moves the queued packets to the end of dst and returns it.
func (r *Reader) Drain(dst []*Packet) []*Packet {
	r.mu.Lock()
	for r.n > 0 {
		dst = append(dst, r.buf[r.head])
		r.buf[r.head] = nil
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
	r.mu.Unlock()
	return dst
}
