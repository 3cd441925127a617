// Package fanout feeds each stream's packets to its many sinks (viewer
// sessions, downstream edges): writer goroutines that send whole frames,
// a new sink started from the stream's kept GOP, audio held to ride with
// video, and bounded queues that drop and count instead of blocking.
//
// It knows no WebRTC and no HTTP: a sink is anything that writes a run of
// packets (Sink); the whep package's sessions are sinks.
package fanout

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/stream"
)

// A stream's sinks are served by a few writer goroutines, one per core,
// each owning a share of the sinks and writing every packet to each of
// them in turn. A goroutine per sink cost a scheduler wake-up per frame
// per viewer, a quarter of the CPU at 100 viewers (perf, this machine);
// writes to the UDP mux never block, so one viewer cannot hold up the
// others of its writer. A sink whose writes may block (a session whose
// media goes over ICE-TCP, where a write blocks when the player stops
// reading) gets a writer of its own.

// ErrClosed is returned by Attach once the engine is closed.
var ErrClosed = errors.New("fan-out closed")

// Params configure an Engine.
type Params struct {
	Metrics *mediametrics.Metrics
	// QueueSize is each writer's packet queue, and the most packets a
	// sink's GOP replay keeps waiting.
	QueueSize int
	// NoGOPStart makes new sinks wait for the source's next keyframe
	// instead of replaying the kept GOP (for comparison).
	NoGOPStart bool
	// AudioHold, when positive, makes audio wait for the end of the next
	// video frame, at most this long, and leave right after it (see
	// writer.arrange). Zero sends audio as it comes.
	AudioHold time.Duration
}

// Engine is the fan-out of a node: for each stream with sinks, its
// writers. Close stops them all.
type Engine struct {
	p    Params
	wg   sync.WaitGroup // writers
	quit chan struct{}  // closed by Close

	mu     sync.Mutex
	groups map[*stream.Stream]*group
	closed bool
}

// group is the set of shared writers of one stream. It lives while the
// stream has sinks attached, started or not.
type group struct {
	writers []*writer
	outputs int // under Engine.mu
	stop    chan struct{}
}

// New returns an engine; p.QueueSize must be positive.
func New(p Params) *Engine {
	return &Engine{p: p, quit: make(chan struct{}), groups: map[*stream.Stream]*group{}}
}

// Close stops every writer and waits for them; Attach fails from then on.
// Sinks still attached get nothing more.
func (e *Engine) Close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.quit)
		for st, g := range e.groups {
			delete(e.groups, st)
			close(g.stop)
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// OutputParams describe a sink to Attach.
type OutputParams struct {
	// Audio is set when the sink takes the stream's audio.
	Audio bool
	// Start is when the sink asked to play, for the time to its first
	// keyframe.
	Start time.Time
}

// Attach registers sink as a new output of st, starting the stream's
// writers for its first. The output gets packets once started (Start);
// Close ends it. It fails with ErrClosed, or with stream.ErrClosed when
// the stream has ended.
func (e *Engine) Attach(st *stream.Stream, sink Sink, p OutputParams) (*Output, error) {
	o := e.newOutput(st, sink, p)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	g := e.groups[st]
	if g == nil {
		g = &group{stop: make(chan struct{})}
		for range runtime.GOMAXPROCS(0) {
			w, err := e.newWriter(st, false, g.stop)
			if err != nil { // the stream closed meanwhile
				for _, w := range g.writers {
					st.RemoveReader(w.reader)
				}
				return nil, fmt.Errorf("fan-out of %s: %w", st.Name(), err)
			}
			g.writers = append(g.writers, w)
		}
		e.groups[st] = g
		for _, w := range g.writers {
			e.wg.Add(1)
			go w.run()
		}
	}
	g.outputs++
	return o, nil
}

// detach ends an output's share of its stream's writers; the last one
// stops them.
func (e *Engine) detach(st *stream.Stream) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.groups[st]
	if g == nil {
		return
	}
	if g.outputs--; g.outputs == 0 {
		delete(e.groups, st)
		close(g.stop)
	}
}

// join hands a started output to a writer: the least loaded of its
// stream's, or one of its own when private.
func (e *Engine) join(o *Output, private bool) {
	if private {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return
		}
		w, err := e.newWriter(o.st, true, o.done)
		if err != nil {
			e.mu.Unlock()
			o.sink.StreamEnded()
			return
		}
		e.wg.Add(1)
		e.mu.Unlock()
		w.add(o)
		go w.run()
		return
	}
	e.mu.Lock()
	g := e.groups[o.st]
	e.mu.Unlock()
	if g == nil {
		return // the output is closing
	}
	best := g.writers[0]
	for _, w := range g.writers[1:] {
		if w.load.Load() < best.load.Load() {
			best = w
		}
	}
	best.add(o)
}

func (e *Engine) newWriter(st *stream.Stream, private bool, stop chan struct{}) (*writer, error) {
	name := st.Name()
	m := e.p.Metrics
	w := &writer{
		e: e, st: st, private: private, stop: stop, kick: make(chan struct{}, 1),
		pktsV:     m.PacketsOut.WithLabelValues(name, "video"),
		pktsA:     m.PacketsOut.WithLabelValues(name, "audio"),
		bytesV:    m.BytesOut.WithLabelValues(name, "video"),
		bytesA:    m.BytesOut.WithLabelValues(name, "audio"),
		queueFull: m.Dropped.WithLabelValues(name, "queue_full"),
	}
	r, err := st.AddReader(e.p.QueueSize, func(*stream.Packet) { w.dropped.Add(1) })
	if err != nil {
		return nil, err
	}
	w.reader = r
	return w, nil
}
