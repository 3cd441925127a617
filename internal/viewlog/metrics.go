package viewlog

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics count what a book takes of its own node's players (reported
// sessions are counted by the node that serves them, so sums over nodes
// count each session once).
type metrics struct {
	joins   *prometheus.CounterVec
	watch   *prometheus.HistogramVec
	dropped *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_event_viewer_joins_total",
			Help: "Viewer sessions started at this node, by channel and region."}, []string{"channel", "region"}),
		watch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "livedrop_event_watch_seconds",
			Help:    "Length of the viewer sessions that ended at this node, by channel.",
			Buckets: []float64{10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}}, []string{"channel"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_event_view_events_dropped_total",
			Help: "Viewer join/leave events not kept: invalid, or the book full."}, []string{"reason"}),
	}
	m.dropped.WithLabelValues("invalid")
	m.dropped.WithLabelValues("full")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.joins, m.watch, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
