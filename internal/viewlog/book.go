package viewlog

import (
	"sync"
	"time"

	"github.com/livedrop/livedrop/internal/kpi"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMax is how many events a book keeps at most, over all streams.
const DefaultMax = 200_000

// Book is the joins and leaves of the viewer sessions a node sees, per
// stream: its own players' (node "") and those its downstream nodes
// report (node: the reporting session). It drops repeated joins and
// leaves without a join, so what it keeps pairs cleanly; a node that goes
// away leaves the sessions it had open (NodeGone). On an edge the events
// are a queue for upstream (Take, Open); on the origin they are the
// event's history (Views). It is bounded: past Max events, new joins are
// dropped and counted.
type Book struct {
	max int
	now func() time.Time
	m   *metrics

	mu      sync.Mutex
	n       int
	streams map[string]*streamBook
}

type streamBook struct {
	open    map[string]openSession // by session
	left    map[string]int64       // a session's last leave (ms)
	events  []Event
	views   []kpi.View // events[:len(views)] as kpi reads them (Views)
	version uint64
}

type openSession struct {
	join Event
	node string
}

// Params build a Book.
type Params struct {
	Max        int              // events kept at most (0: DefaultMax)
	Now        func() time.Time // nil: time.Now
	Registerer prometheus.Registerer
}

// New returns an empty book.
func New(p Params) (*Book, error) {
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	m, err := newMetrics(p.Registerer)
	if err != nil {
		return nil, err
	}
	return &Book{max: p.Max, now: p.Now, m: m, streams: map[string]*streamBook{}}, nil
}

func (b *Book) stream(name string) *streamBook {
	s := b.streams[name]
	if s == nil {
		s = &streamBook{open: map[string]openSession{}, left: map[string]int64{}}
		b.streams[name] = s
	}
	return s
}

// Add takes events of stream from node ("" for this node's own players).
func (b *Book) Add(stream, node string, evs []Event) {
	now := b.now().UnixMilli()
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stream(stream)
	for _, e := range evs {
		if !e.Valid() {
			b.m.dropped.WithLabelValues("invalid").Inc()
			continue
		}
		if e.AtMS > now {
			e.AtMS = now // a clock ahead of ours
		}
		b.add(s, node, e)
	}
}

// add is Add for one valid event; b.mu is held.
func (b *Book) add(s *streamBook, node string, e Event) {
	if e.Join {
		if o, ok := s.open[e.Session]; ok {
			o.node = node // a node that reconnected says it again
			s.open[e.Session] = o
			return
		}
		if b.n >= b.max {
			b.m.dropped.WithLabelValues("full").Inc()
			return
		}
		if l, ok := s.left[e.Session]; ok && e.AtMS < l {
			e.AtMS = l // reopened after its node went: from then on
		}
		s.open[e.Session] = openSession{join: e, node: node}
		if node == "" {
			b.m.joins.WithLabelValues(e.Channel, e.Region).Inc()
		}
	} else {
		o, ok := s.open[e.Session]
		if !ok {
			return // a leave without its join
		}
		if e.AtMS < o.join.AtMS {
			e.AtMS = o.join.AtMS
		}
		e.Viewer, e.Channel, e.Region = o.join.Viewer, o.join.Channel, o.join.Region
		delete(s.open, e.Session)
		if len(s.left) >= b.max {
			clear(s.left)
		}
		s.left[e.Session] = e.AtMS
		if o.node == "" {
			b.m.watch.WithLabelValues(e.Channel).Observe(float64(e.AtMS-o.join.AtMS) / 1000)
		}
	}
	s.events = append(s.events, e)
	s.version++
	b.n++
}

// NodeGone ends, now, the sessions of stream that node reported open.
func (b *Book) NodeGone(stream, node string) {
	now := b.now().UnixMilli()
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.streams[stream]
	if s == nil {
		return
	}
	for id, o := range s.open {
		if o.node == node {
			b.add(s, node, Event{Session: id, AtMS: now})
		}
	}
}

// Take removes and returns up to max of stream's oldest events (an edge
// sends them upstream).
func (b *Book) Take(stream string, max int) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.streams[stream]
	if s == nil || len(s.events) == 0 {
		return nil
	}
	n := min(max, len(s.events))
	out := append([]Event(nil), s.events[:n]...)
	s.events = append(s.events[:0], s.events[n:]...)
	s.views = nil
	b.n -= n
	return out
}

// Open returns the joins of stream's open sessions (an edge tells them
// again to a new upstream connection: a join repeated changes nothing).
func (b *Book) Open(stream string) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.streams[stream]
	if s == nil {
		return nil
	}
	out := make([]Event, 0, len(s.open))
	for _, o := range s.open {
		out = append(out, o.join)
	}
	return out
}

// Views returns stream's events for internal/kpi, oldest first, and the
// book's version of the stream (it changes with every event kept). The
// slice is shared: callers must not change it. Each event is converted
// once, not on every report.
func (b *Book) Views(stream string) ([]kpi.View, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.streams[stream]
	if s == nil {
		return nil, 0
	}
	for _, e := range s.events[len(s.views):] {
		s.views = append(s.views, e.View())
	}
	return s.views[:len(s.views):len(s.views)], s.version
}

// Version is stream's version (Views).
func (b *Book) Version(stream string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.streams[stream]; s != nil {
		return s.version
	}
	return 0
}

// RestoredNode is the node Restore files open sessions under until the
// node serving them says them again (a join repeated changes only the
// node) or the keeper ends them (NodeGone).
const RestoredNode = "\x00restored"

// Restore puts back stream's events as a Log kept them, before the node
// serves: each valid event is taken as Add takes it (so repeats from a
// log written twice are kept once), open sessions under RestoredNode,
// and nothing is counted again in the metrics. It returns the events kept.
func (b *Book) Restore(stream string, evs []Event) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stream(stream)
	before := len(s.events)
	for _, e := range evs {
		if e.Valid() {
			b.add(s, RestoredNode, e)
		}
	}
	return len(s.events) - before
}

// Since returns a copy of stream's events from the from'th on, and the
// count of events the stream has: the cursor for the next call. For a
// book nobody Takes from (the origin's).
func (b *Book) Since(stream string, from int) ([]Event, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.streams[stream]
	if s == nil || from >= len(s.events) {
		if s == nil {
			return nil, 0
		}
		return nil, len(s.events)
	}
	return append([]Event(nil), s.events[from:]...), len(s.events)
}

// Streams names the streams the book has events or open sessions of.
func (b *Book) Streams() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.streams))
	for name := range b.streams {
		out = append(out, name)
	}
	return out
}
