package fanout

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/stream"
)

// frameHold bounds how long a frame's first packets wait for its last
// one, so they leave together (one GSO datagram per viewer), when the
// source spreads a frame out.
const frameHold = 2 * time.Millisecond

// writer delivers one stream's packets to its outputs.
type writer struct {
	e       *Engine
	st      *stream.Stream
	reader  *stream.Reader
	private bool          // a single output's writer
	stop    chan struct{} // closed when the group has no output left, or the private output closes

	mu      sync.Mutex
	joining []*Output
	kick    chan struct{}
	load    atomic.Int32 // outputs assigned

	outputs []*Output        // owned by run
	audio   []*stream.Packet // owned by run: arrange's scratch
	dropped atomic.Int64

	pktsV, pktsA, bytesV, bytesA, queueFull prometheus.Counter
}

func (w *writer) add(o *Output) {
	w.load.Add(1)
	w.mu.Lock()
	w.joining = append(w.joining, o)
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
	defer w.e.wg.Done()
	defer w.st.RemoveReader(w.reader)
	kind := "shared"
	if w.private {
		kind = "tcp"
	}
	gauge := w.e.p.Metrics.Writers.WithLabelValues(kind)
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
			for _, o := range w.outputs {
				o.sink.StreamEnded()
			}
			return
		case <-w.stop:
			return
		case <-w.e.quit:
			return
		}
		w.adopt()
		batch = w.reader.Drain(batch)
		if d := w.dropped.Swap(0); d > 0 {
			w.queueFull.Add(float64(d) * float64(max(1, len(w.outputs))))
		}
		now := time.Now()
		ready, wait := w.arrange(batch, force, now)
		live := batch[:ready]
		replaying := false
		for i := 0; i < len(w.outputs); {
			o := w.outputs[i]
			if o.closed.Load() {
				last := len(w.outputs) - 1
				w.outputs[i], w.outputs[last] = w.outputs[last], nil
				w.outputs = w.outputs[:last]
				w.load.Add(-1)
				continue
			}
			if len(live) > 0 {
				o.deliver(live, &c)
			}
			if o.replay != nil {
				o.replayStep(&c)
				replaying = replaying || o.replay != nil
			}
			if now.After(o.nextSR) {
				o.sink.SendReports(now)
				o.nextSR = now.Add(senderReportInterval)
			}
			i++
		}
		n := copy(batch, batch[ready:])
		clear(batch[n:])
		batch = batch[:n]
		w.flushCounts(&c)
		if w.private && len(w.outputs) == 0 {
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
	hold := w.e.p.AudioHold
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

// frameEnd returns how many packets of batch to write now: all of them
// but an unfinished video frame at the end. A frame's packets go out
// together, so the media socket joins them into one GSO datagram.
func frameEnd(batch []*stream.Packet) int {
	for i := len(batch) - 1; i >= 0; i-- {
		if p := batch[i]; p.Kind == stream.Video {
			if p.Header.Marker {
				return len(batch)
			}
			for j := i - 1; j >= 0; j-- {
				if q := batch[j]; q.Kind == stream.Video && (q.Header.Marker || q.Header.Timestamp != p.Header.Timestamp) {
					return j + 1
				}
			}
			return 0
		}
	}
	return len(batch)
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
	w.outputs = append(w.outputs, w.joining...)
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
