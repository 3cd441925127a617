package transcode

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the transcoders' counters, shared by every transcoder of a
// registry.
type Metrics struct {
	FramesIn     prometheus.Counter
	FramesOut    prometheus.Counter
	Dropped      prometheus.Counter
	Errors       prometheus.Counter
	Restarts     prometheus.Counter
	AddedLatency prometheus.Histogram
}

// NewMetrics registers the transcoders' metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		FramesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_transcode_frames_in_total",
			Help: "AAC access units handed to audio transcoders."}),
		FramesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_transcode_frames_out_total",
			Help: "Opus packets the audio transcoders produced."}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_transcode_dropped_total",
			Help: "AAC access units dropped because a transcoder was behind or restarting."}),
		Errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_transcode_errors_total",
			Help: "AAC access units a transcoder could not take."}),
		Restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_transcode_restarts_total",
			Help: "Audio transcoder restarts after the child exited."}),
		AddedLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_transcode_added_latency_seconds",
			Help:    "Time from an AAC unit's arrival to the Opus packet made from it.",
			Buckets: []float64{0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1}}),
	}
	for _, c := range []prometheus.Collector{m.FramesIn, m.FramesOut, m.Dropped, m.Errors, m.Restarts, m.AddedLatency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("transcode metrics: %w", err)
		}
	}
	return m, nil
}
