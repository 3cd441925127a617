package fanout

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/stream"
)

// Sink is where an output's packets go: a viewer session, or a
// downstream edge's. Its writer calls it, one call at a time.
type Sink interface {
	// WriteRun writes run in order and sets Sent on each packet that
	// left. It must not keep run; it should not block (a sink that may is
	// started with a writer of its own).
	WriteRun(run []Packet)
	// SendReports is called about once a second, with the time, for the
	// sink to report what it sent (RTCP sender reports).
	SendReports(now time.Time)
	// StreamEnded tells the sink its stream has ended: nothing more will
	// come. It must not block; the sink closes its output.
	StreamEnded()
}

// Packet is one packet of a run: a stream packet, the RTP timestamp it
// leaves with (a replayed GOP's are pressed together), and, once written,
// whether it left.
type Packet struct {
	Src       *stream.Packet
	Timestamp uint32
	Audio     bool
	Sent      bool // set by the sink

	sample bool // for the forward latency histogram
}

// senderReportInterval is how often sinks are asked to send reports.
const senderReportInterval = time.Second

// runMax bounds an output's run: a GOP replay's backlog leaves in runs of
// this many.
const runMax = 64

// A GOP is replayed gopChunk packets at a time, gopChunkGap apart: about
// 16,000 packets/s, a 4 s GOP of a 1.5 Mbps stream in under 40 ms.
const (
	gopChunk    = 32
	gopChunkGap = 2 * time.Millisecond
)

// Output is one sink's share of a stream: the packets it was sent, its
// GOP replay, its counts.
type Output struct {
	e     *Engine
	st    *stream.Stream
	sink  Sink
	audio bool
	start time.Time

	done      chan struct{}
	closed    atomic.Bool // done is closed; cheaper for the writer to poll
	closeOnce sync.Once
	burst     atomic.Pointer[gopBurst]
	m         outputMetrics

	// owned by the output's writer
	started  bool
	replayed bool
	lastSeq  uint16 // last sequence number of the replayed GOP
	askedKey bool
	n        uint
	replay   *replay
	run      []Packet // queued for one write (flush)
	nextSR   time.Time
}

// outputMetrics are an output's metric children, looked up once.
type outputMetrics struct {
	writeErrors, queueFull, gopStarts prometheus.Counter
	firstKeyframe, latency            prometheus.Observer
}

func (e *Engine) newOutput(st *stream.Stream, sink Sink, p OutputParams) *Output {
	m, name := e.p.Metrics, st.Name()
	return &Output{
		e: e, st: st, sink: sink, audio: p.Audio, start: p.Start, done: make(chan struct{}),
		m: outputMetrics{
			writeErrors:   m.Dropped.WithLabelValues(name, "write_error"),
			queueFull:     m.Dropped.WithLabelValues(name, "queue_full"),
			gopStarts:     m.GOPStarts.WithLabelValues(name),
			firstKeyframe: m.FirstKeyframe,
			latency:       m.ForwardLatency,
		},
	}
}

// Start hands the output to a writer: its sink gets packets from now on,
// beginning with the stream's kept GOP. private gives it a writer of its
// own (a sink whose writes may block).
func (o *Output) Start(private bool) {
	o.e.join(o, private)
}

// Close ends the output: its writer drops it, and the last output of a
// stream stops the stream's writers.
func (o *Output) Close() {
	o.closeOnce.Do(func() {
		o.closed.Store(true)
		close(o.done)
		o.e.detach(o.st)
	})
}

// ReplayTimestamp returns the timestamp packet seq was sent with when it
// was part of the output's GOP replay, so that its retransmission matches.
func (o *Output) ReplayTimestamp(seq uint16) (uint32, bool) {
	return o.burst.Load().timestamp(seq)
}

// replay is a GOP being sent to a new output, a chunk per tick, with the
// live packets that arrive meanwhile.
type replay struct {
	gop     []*stream.Packet
	next    int
	burst   *gopBurst
	pending []*stream.Packet
}

// gopBurst is a replayed GOP: the timestamps its packets were sent with,
// so retransmissions of them match.
type gopBurst struct {
	firstSeq uint16
	ts       []uint32
}

func (b *gopBurst) timestamp(seq uint16) (uint32, bool) {
	if b == nil {
		return 0, false
	}
	i := int(uint16(seq - b.firstSeq))
	if i >= len(b.ts) {
		return 0, false
	}
	return b.ts[i], true
}

// deliver writes live packets to the output.
func (o *Output) deliver(pkts []*stream.Packet, c *counts) {
	if o.replay != nil {
		if len(o.replay.pending)+len(pkts) > o.e.p.QueueSize {
			o.m.queueFull.Add(float64(len(pkts)))
			return
		}
		o.replay.pending = append(o.replay.pending, pkts...)
		return
	}
	if !o.started && !o.e.p.NoGOPStart && o.beginReplay() {
		o.replay.pending = append(o.replay.pending, pkts...)
		return
	}
	o.writeLive(pkts, c, true)
}

// writeLive writes packets as they come; sample puts one video packet in
// 16 into the forward latency histogram (not the packets that waited for
// a GOP replay: that wait is the output's start, measured on its own).
func (o *Output) writeLive(pkts []*stream.Packet, c *counts, sample bool) {
	for _, p := range pkts {
		audio := p.Kind == stream.Audio
		if audio {
			if !o.audio {
				continue
			}
		} else if o.replayed && int16(p.Header.SequenceNumber-o.lastSeq) <= 0 {
			continue // already sent in the GOP burst
		} else if !o.started {
			if !p.Keyframe {
				if !o.askedKey {
					o.askedKey = true
					o.st.RequestKeyframe()
				}
				continue
			}
			o.started = true
			o.m.firstKeyframe.Observe(time.Since(o.start).Seconds())
		}
		o.queue(p, p.Header.Timestamp, audio, sample, c)
	}
	o.flush(c)
}

// queue adds p, with timestamp ts, to the output's run.
func (o *Output) queue(p *stream.Packet, ts uint32, audio, sample bool, c *counts) {
	if len(o.run) == runMax {
		o.flush(c)
	}
	o.run = append(o.run, Packet{Src: p, Timestamp: ts, Audio: audio, sample: sample})
}

// flush writes the output's run and counts what left. Audio is not
// sampled for the forward latency: it is held on purpose (AudioHold).
func (o *Output) flush(c *counts) {
	if len(o.run) == 0 {
		return
	}
	o.sink.WriteRun(o.run)
	for i := range o.run {
		p := &o.run[i]
		switch {
		case !p.Sent:
			o.m.writeErrors.Inc()
		case p.Audio:
			c.pktsA++
			c.bytesA += len(p.Src.Payload)
		default:
			c.pktsV++
			c.bytesV += len(p.Src.Payload)
			if o.n++; p.sample && o.n%16 == 0 && !p.Src.Arrival.IsZero() {
				o.m.latency.Observe(time.Since(p.Src.Arrival).Seconds())
			}
		}
	}
	clear(o.run)
	o.run = o.run[:0]
}

// beginReplay starts sending the stream's current GOP so the player
// decodes a picture at once instead of waiting for the source's next
// keyframe. The frames' timestamps are pressed together to end at the last
// one's: the player decodes the burst and lands on the live edge. Sequence
// numbers stay as they are (the live packets continue them). The burst is
// paced so it does not overflow the player's receive buffer.
func (o *Output) beginReplay() bool {
	gop := o.st.GOP(nil)
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
	o.burst.Store(burst)
	o.m.firstKeyframe.Observe(time.Since(o.start).Seconds())
	o.m.gopStarts.Inc()
	o.replay = &replay{gop: gop, burst: burst}
	return true
}

// replayStep sends the next chunk of the GOP; after the last, the live
// packets that waited.
func (o *Output) replayStep(c *counts) {
	r := o.replay
	end := min(r.next+gopChunk, len(r.gop))
	for i := r.next; i < end; i++ {
		o.queue(r.gop[i], r.burst.ts[i], false, false, c)
	}
	o.flush(c)
	r.next = end
	if r.next < len(r.gop) {
		return
	}
	o.replay = nil
	o.started, o.replayed = true, true
	o.lastSeq = r.gop[len(r.gop)-1].Header.SequenceNumber
	o.writeLive(r.pending, c, false)
}
