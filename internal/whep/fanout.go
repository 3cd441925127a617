package whep

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// A stream's sessions are served by a few writer goroutines, one per core,
// each owning a share of the sessions and writing every packet to each of
// them in turn. A goroutine per session cost a scheduler wake-up per frame
// per viewer, a quarter of the CPU at 100 viewers (perf, this machine);
// writes to the UDP mux never block, so one viewer cannot hold up the
// others of its writer. A session whose media goes over ICE-TCP, where a
// write blocks when the player stops reading, gets a writer of its own.

// frameHold bounds how long a frame's first packets wait for its last
// one, so they leave together (one GSO datagram per viewer), when the
// source spreads a frame out.
const frameHold = 2 * time.Millisecond

// fanout is the set of writers of one stream on a server. It lives while the
// stream has sessions, connected or not.
type fanout struct {
	st       *stream.Stream
	writers  []*writer
	sessions int // guarded by Server.mu
	stop     chan struct{}
}

// writer delivers one stream's packets to its sessions.
type writer struct {
	srv     *Server
	st      *stream.Stream
	reader  *stream.Reader
	private bool          // a single TCP session's writer
	stop    chan struct{} // closed when the fanout has no session left

	mu      sync.Mutex
	joining []*session
	kick    chan struct{}
	load    atomic.Int32 // sessions assigned

	sessions []*session       // owned by run
	audio    []*stream.Packet // owned by run: arrange's scratch
	dropped  atomic.Int64

	pktsV, pktsA, bytesV, bytesA, queueFull prometheus.Counter
}

// attach registers a new session with its stream's fanout, starting the
// fanout's writers for the stream's first session.
func (s *Server) attach(ss *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return errShutdown
	}
	f := s.fanouts[ss.stream]
	if f == nil {
		f = &fanout{st: ss.stream, stop: make(chan struct{})}
		n := runtime.GOMAXPROCS(0)
		for range n {
			w, err := s.newWriter(ss.stream, false, f.stop)
			if err != nil { // the stream closed meanwhile
				for _, w := range f.writers {
					ss.stream.RemoveReader(w.reader)
				}
				return ErrOffline
			}
			f.writers = append(f.writers, w)
		}
		s.fanouts[ss.stream] = f
		for _, w := range f.writers {
			s.wg.Add(1)
			go w.run()
		}
	}
	f.sessions++
	return nil
}

// detach ends a session's share of its fanout; the last one stops it.
func (s *Server) detach(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fanouts[ss.stream]
	if f == nil {
		return
	}
	if f.sessions--; f.sessions == 0 {
		delete(s.fanouts, ss.stream)
		close(f.stop)
	}
}

// join hands a connected session to a writer: the least loaded of its
// fanout's, or one of its own when its media goes over TCP.
func (s *Server) join(ss *session, tcp bool) {
	if tcp {
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			return
		}
		w, err := s.newWriter(ss.stream, true, ss.done)
		if err != nil {
			s.mu.Unlock()
			s.goClose(ss, "stream ended")
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		w.add(ss)
		go w.run()
		return
	}
	s.mu.Lock()
	f := s.fanouts[ss.stream]
	s.mu.Unlock()
	if f == nil {
		return // the session is closing
	}
	best := f.writers[0]
	for _, w := range f.writers[1:] {
		if w.load.Load() < best.load.Load() {
			best = w
		}
	}
	best.add(ss)
}

func (s *Server) newWriter(st *stream.Stream, private bool, stop chan struct{}) (*writer, error) {
	name := st.Name()
	m := s.p.Metrics
	w := &writer{
		srv: s, st: st, private: private, stop: stop, kick: make(chan struct{}, 1),
		pktsV:     m.PacketsOut.WithLabelValues(name, "video"),
		pktsA:     m.PacketsOut.WithLabelValues(name, "audio"),
		bytesV:    m.BytesOut.WithLabelValues(name, "video"),
		bytesA:    m.BytesOut.WithLabelValues(name, "audio"),
		queueFull: m.Dropped.WithLabelValues(name, "queue_full"),
	}
	r, err := st.AddReader(s.p.QueueSize, func(*stream.Packet) { w.dropped.Add(1) })
	if err != nil {
		return nil, err
	}
	w.reader = r
	return w, nil
}

func (w *writer) add(ss *session) {
	w.load.Add(1)
	w.mu.Lock()
	w.joining = append(w.joining, ss)
	w.mu.Unlock()
	signalKick(w.kick)
}

func signalKick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// counts are what a writer sent in one round, added to the metrics once.
type counts struct {
	pktsV, pktsA, bytesV, bytesA int
}

func (w *writer) run() {
	defer w.srv.wg.Done()
	defer w.st.RemoveReader(w.reader)
	kind := "shared"
	if w.private {
		kind = "tcp"
	}
	gauge := w.srv.p.Metrics.Writers.WithLabelValues(kind)
	gauge.Inc()
	defer gauge.Dec()
	var (
		batch     []*stream.Packet
		tick      = time.NewTicker(gopChunkGap)
		ticking   = true
		hold      = time.NewTimer(frameHold)
		holding   = true
		holdUntil = time.Now().Add(frameHold)
		c         counts
	)
	defer tick.Stop()
	defer hold.Stop()
	for {
		var tickC <-chan time.Time
		if ticking {
			tickC = tick.C
		}
		var holdC <-chan time.Time
		if holding {
			holdC = hold.C
		}
		force := false
		select {
		case <-w.reader.Ready():
		case <-w.kick:
		case <-tickC:
		case <-holdC:
			holding, force = false, true
		case <-w.reader.Done():
			w.adopt()
			for _, ss := range w.sessions {
				w.srv.goClose(ss, "stream ended")
			}
			return
		case <-w.stop:
			return
		}
		w.adopt()
		batch = w.reader.Drain(batch)
		if d := w.dropped.Swap(0); d > 0 {
			w.queueFull.Add(float64(d) * float64(max(1, len(w.sessions))))
		}
		now := time.Now()
		ready, wait := w.arrange(batch, force, now)
		live := batch[:ready]
		replaying := false
		for i := 0; i < len(w.sessions); {
			ss := w.sessions[i]
			if ss.closed.Load() {
				last := len(w.sessions) - 1
				w.sessions[i], w.sessions[last] = w.sessions[last], nil
				w.sessions = w.sessions[:last]
				w.load.Add(-1)
				continue
			}
			if len(live) > 0 {
				ss.deliver(live, &c)
			}
			if ss.out.replay != nil {
				ss.replayStep(&c)
				replaying = replaying || ss.out.replay != nil
			}
			if now.After(ss.out.nextSR) {
				ss.sendReports(now)
				ss.out.nextSR = now.Add(senderReportInterval)
			}
			i++
		}
		n := copy(batch, batch[ready:])
		clear(batch[n:])
		batch = batch[:n]
		w.flushCounts(&c)
		if w.private && len(w.sessions) == 0 {
			return
		}
		// An unfinished frame waits for its end at most frameHold, audio
		// for the next frame at most AudioHold.
		if len(batch) > 0 && (!holding || now.Add(wait).Before(holdUntil)) {
			hold.Reset(wait)
			holding, holdUntil = true, now.Add(wait)
		} else if len(batch) == 0 && holding {
			hold.Stop()
			holding = false
		}
		if replaying != ticking {
			if replaying {
				tick.Reset(gopChunkGap)
			} else {
				tick.Stop()
			}
			ticking = replaying
		}
	}
}

// arrange puts the packets of batch that leave now first, in the order
// they leave, and returns how many there are; the rest wait, and wait is
// how long at most. Whole video frames leave (a frame's packets go out
// together, one GSO datagram per viewer); an unfinished frame waits for
// its end, at most frameHold. With AudioHold, audio waits for the next
// frame's end, at most AudioHold after it arrived, and leaves after the
// frame's packets: each viewer's audio packet is then the short last
// segment of the frame's datagram, not a datagram of its own. Audio is two
// thirds of a viewer's datagrams (50 a second against 30 frames), and the
// kernel's send cost is mostly per datagram. A player hears audio up to
// one frame interval later; its jitter buffer absorbs that. When force is
// set, everything leaves.
func (w *writer) arrange(batch []*stream.Packet, force bool, now time.Time) (ready int, wait time.Duration) {
	ready = len(batch)
	if !force {
		ready = frameEnd(batch)
	}
	hold := w.srv.p.AudioHold
	if hold <= 0 {
		return ready, frameHold
	}
	if !force {
		// Audio after the last whole frame waits for the next one, unless
		// the oldest of it has waited AudioHold (a silent or stalled video
		// track, or a low frame rate).
		tail := ready
		for tail > 0 && batch[tail-1].Kind == stream.Audio {
			tail--
		}
		if tail < ready && now.Sub(batch[tail].Arrival) < hold {
			ready = tail
		}
	}
	wait = frameHold
	if rest := batch[ready:]; len(rest) > 0 && !hasVideo(rest) {
		wait = max(hold-now.Sub(rest[0].Arrival), 0)
	}
	// Video first, then audio, each in arrival order.
	live, v := batch[:ready], 0
	for _, p := range live {
		if p.Kind == stream.Audio {
			w.audio = append(w.audio, p)
			continue
		}
		live[v] = p
		v++
	}
	copy(live[v:], w.audio)
	clear(w.audio)
	w.audio = w.audio[:0]
	return ready, wait
}

func hasVideo(pkts []*stream.Packet) bool {
	for _, p := range pkts {
		if p.Kind == stream.Video {
			return true
		}
	}
	return false
}

func (w *writer) adopt() {
	w.mu.Lock()
	w.sessions = append(w.sessions, w.joining...)
	clear(w.joining)
	w.joining = w.joining[:0]
	w.mu.Unlock()
}

func (w *writer) flushCounts(c *counts) {
	if c.pktsV > 0 {
		w.pktsV.Add(float64(c.pktsV))
		w.bytesV.Add(float64(c.bytesV))
	}
	if c.pktsA > 0 {
		w.pktsA.Add(float64(c.pktsA))
		w.bytesA.Add(float64(c.bytesA))
	}
	*c = counts{}
}

// senderReportInterval is how often sessions send RTCP sender reports.
const senderReportInterval = time.Second

// output is a session's sending state, touched only by its writer.
type output struct {
	started  bool
	replayed bool
	lastSeq  uint16 // last sequence number of the replayed GOP
	askedKey bool
	n        uint
	replay   *replay
	run      []outPacket   // queued for one write (flush)
	wire     []peer.Packet // sendRun's scratch
	nextSR   time.Time
}

// replay is a GOP being sent to a new session, a chunk per tick, with the
// live packets that arrive meanwhile.
type replay struct {
	gop     []*stream.Packet
	next    int
	burst   *gopBurst
	pending []*stream.Packet
}

// deliver writes live packets to the session.
func (ss *session) deliver(pkts []*stream.Packet, c *counts) {
	o := &ss.out
	if o.replay != nil {
		if len(o.replay.pending)+len(pkts) > ss.srv.p.QueueSize {
			ss.m.queueFull.Add(float64(len(pkts)))
			return
		}
		o.replay.pending = append(o.replay.pending, pkts...)
		return
	}
	if !o.started && !ss.srv.p.NoGOPStart && ss.beginReplay() {
		o.replay.pending = append(o.replay.pending, pkts...)
		return
	}
	ss.writeLive(pkts, c, true)
}

// writeLive writes packets as they come; sample puts one video packet in
// 16 into the forward latency histogram (not the packets that waited for
// a GOP replay: that wait is the session's start, measured on its own).
func (ss *session) writeLive(pkts []*stream.Packet, c *counts, sample bool) {
	o := &ss.out
	for _, p := range pkts {
		audio := p.Kind == stream.Audio
		if audio {
			if ss.senders.Audio == nil {
				continue
			}
		} else if o.replayed && int16(p.Header.SequenceNumber-o.lastSeq) <= 0 {
			continue // already sent in the GOP burst
		} else if !o.started {
			if !p.Keyframe {
				if !o.askedKey {
					o.askedKey = true
					ss.stream.RequestKeyframe()
				}
				continue
			}
			o.started = true
			ss.srv.p.Metrics.FirstKeyframe.Observe(time.Since(ss.start).Seconds())
		}
		ss.queue(p, p.Header.Timestamp, audio, sample, c)
	}
	ss.flush(c)
}

// outPacket is a packet of a session's run: a stream packet, the RTP
// timestamp it leaves with, and, after sendRun, whether it left.
type outPacket struct {
	src    *stream.Packet
	ts     uint32
	audio  bool
	sample bool // for the forward latency histogram
	sent   bool
}

// runMax bounds a session's queued run (output.run): a GOP replay's
// backlog leaves in runs of this many.
const runMax = 64

// queue adds p, with timestamp ts, to the session's run.
func (ss *session) queue(p *stream.Packet, ts uint32, audio, sample bool, c *counts) {
	o := &ss.out
	if len(o.run) == runMax {
		ss.flush(c)
	}
	o.run = append(o.run, outPacket{src: p, ts: ts, audio: audio, sample: sample})
}

// flush writes the session's run and counts what left. Audio is not
// sampled for the forward latency: it is held on purpose (AudioHold).
func (ss *session) flush(c *counts) {
	o := &ss.out
	if len(o.run) == 0 {
		return
	}
	ss.sendRun(o.run)
	for i := range o.run {
		p := &o.run[i]
		switch {
		case !p.sent:
			ss.m.writeErrors.Inc()
		case p.audio:
			c.pktsA++
			c.bytesA += len(p.src.Payload)
		default:
			c.pktsV++
			c.bytesV += len(p.src.Payload)
			if o.n++; p.sample && o.n%16 == 0 && !p.src.Arrival.IsZero() {
				ss.m.latency.Observe(time.Since(p.src.Arrival).Seconds())
			}
		}
	}
	clear(o.run)
	o.run = o.run[:0]
}

// sendRun writes run on the session's tracks and sets what left.
func (ss *session) sendRun(run []outPacket) {
	wire := ss.out.wire[:0]
	for i := range run {
		p := &run[i]
		wire = append(wire, peer.Packet{Header: p.src.Header, Payload: p.src.Payload, Audio: p.audio})
		wire[i].Header.Timestamp = p.ts
	}
	ss.senders.WriteRun(wire)
	for i := range wire {
		run[i].sent = wire[i].Sent
	}
	clear(wire)
	ss.out.wire = wire[:0]
}

// beginReplay starts sending the stream's current GOP so the player
// decodes a picture at once instead of waiting for the source's next
// keyframe. The frames' timestamps are pressed together to end at the last
// one's: the player decodes the burst and lands on the live edge. Sequence
// numbers stay as they are (the live packets continue them). The burst is
// paced so it does not overflow the player's receive buffer.
func (ss *session) beginReplay() bool {
	gop := ss.stream.GOP(nil)
	if len(gop) == 0 {
		return false
	}
	frames := 1
	for i := 1; i < len(gop); i++ {
		if gop[i].Header.Timestamp != gop[i-1].Header.Timestamp {
			frames++
		}
	}
	lastTS := gop[len(gop)-1].Header.Timestamp
	burst := &gopBurst{firstSeq: gop[0].Header.SequenceNumber, ts: make([]uint32, len(gop))}
	frame := 0
	for i, p := range gop {
		if i > 0 && p.Header.Timestamp != gop[i-1].Header.Timestamp {
			frame++
		}
		burst.ts[i] = lastTS - uint32(frames-1-frame)
	}
	ss.burst.Store(burst)
	ss.srv.p.Metrics.FirstKeyframe.Observe(time.Since(ss.start).Seconds())
	ss.m.gopStarts.Inc()
	ss.out.replay = &replay{gop: gop, burst: burst}
	return true
}

// replayStep sends the next chunk of the GOP; after the last, the live
// packets that waited.
func (ss *session) replayStep(c *counts) {
	o := &ss.out
	r := o.replay
	end := min(r.next+gopChunk, len(r.gop))
	for i := r.next; i < end; i++ {
		ss.queue(r.gop[i], r.burst.ts[i], false, false, c)
	}
	ss.flush(c)
	r.next = end
	if r.next < len(r.gop) {
		return
	}
	o.replay = nil
	o.started, o.replayed = true, true
	o.lastSeq = r.gop[len(r.gop)-1].Header.SequenceNumber
	ss.writeLive(r.pending, c, false)
}
