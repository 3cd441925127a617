package edge

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MoveNotice is what a draining edge sends each viewer on its session's
// events data channel: move to To (a sibling edge's base URL; empty: the
// address the page came from) within WithinMs, then end this session.
type MoveNotice struct {
	V        int    `json:"v"`    // 1, as every event
	Type     string `json:"type"` // "moving"
	To       string `json:"to,omitempty"`
	WithinMs int64  `json:"within_ms"`
}

// moveMetrics count the viewers a draining edge moved away.
type moveMetrics struct {
	viewers *prometheus.CounterVec
	took    prometheus.Histogram
}

func newMoveMetrics(reg prometheus.Registerer) (*moveMetrics, error) {
	m := &moveMetrics{
		viewers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_edge_viewers_moved_total",
			Help: "Viewers a draining edge told to move to a sibling, by result: moved (ended their session here in time) or stayed (closed by the drain)."},
			[]string{"result"}),
		took: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_edge_move_duration_seconds",
			Help:    "Time from a draining edge telling its viewers to move until the last had left (or move_grace ended).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30}}),
	}
	for _, c := range []prometheus.Collector{m.viewers, m.took} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.viewers.WithLabelValues("moved")
	m.viewers.WithLabelValues("stayed")
	return m, nil
}

// moveViewers is the first step of a drain: the node stops being ready, and
// every viewer is told to move to a ready sibling (in turn; none ready: to
// the address its page came from) and given move_grace to do so while this
// edge still serves it; then Run's HTTP drain goes on.
func (e *Edge) moveViewers() {
	if e.cfg.MoveGrace <= 0 {
		return
	}
	e.node.Draining()
	all := e.cfg.MoveTargets()
	targets := readySiblings(context.Background(), e.http, all, siblingProbe)
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.MoveGrace)
	defer cancel()
	start := time.Now()
	told, left := e.whep.Move(ctx, func(i int) []byte {
		n := MoveNotice{V: 1, Type: "moving", WithinMs: e.cfg.MoveGrace.Milliseconds()}
		if len(targets) > 0 {
			n.To = targets[i%len(targets)]
		}
		b, _ := json.Marshal(n)
		return b
	})
	took := time.Since(start)
	e.moves.took.Observe(took.Seconds())
	e.moves.viewers.WithLabelValues("moved").Add(float64(left))
	e.moves.viewers.WithLabelValues("stayed").Add(float64(told - left))
	e.log.Info("viewers moved", "told", told, "moved", left, "siblings", len(all), "ready", len(targets), "took", took.Round(time.Millisecond))
}
