package overlay

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a hub's collectors. Two hubs on one registerer (an origin and
// an edge in one process) share them.
type metrics struct {
	events      map[string]prometheus.Counter // by message type, resolved up front
	fanout      prometheus.Histogram
	subscribers map[string]prometheus.Gauge // by transport
	resyncs     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_overlay_events_total",
		Help: "Overlay messages published to a stream's subscribers, by type (state, show, hide, stock, drop)."}, []string{"type"})
	fanout := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_overlay_fanout_seconds",
		Help:    "Time from an overlay event's creation or arrival to its enqueue on every subscriber of the stream.",
		Buckets: prometheus.ExponentialBuckets(0.00001, 2, 16)})
	subs := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "livedrop_overlay_subscribers",
		Help: "Active overlay subscribers, by transport (datachannel, websocket)."}, []string{"transport"})
	resyncs := prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_overlay_resyncs_total",
		Help: "Subscribers whose full queue was dropped and replaced by a fresh state."})

	var err error
	if events, err = register(reg, events); err != nil {
		return nil, err
	}
	if fanout, err = register(reg, fanout); err != nil {
		return nil, err
	}
	if subs, err = register(reg, subs); err != nil {
		return nil, err
	}
	if resyncs, err = register(reg, resyncs); err != nil {
		return nil, err
	}
	m := &metrics{events: map[string]prometheus.Counter{}, fanout: fanout, subscribers: map[string]prometheus.Gauge{}, resyncs: resyncs}
	for _, t := range []string{TypeState, TypeShow, TypeHide, TypeStock, TypeDrop, TypeLot, TypeGiveaway} {
		m.events[t] = events.WithLabelValues(t)
	}
	for _, t := range []string{TransportDataChannel, TransportWebSocket} {
		m.subscribers[t] = subs.WithLabelValues(t)
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("overlay metrics: %w", err)
	}
	return c, nil
}

// sharedMetrics count the origin's use of its BoardStore.
type sharedMetrics struct {
	saves, conflicts, adopted, errors prometheus.Counter
}

func newSharedMetrics(reg prometheus.Registerer) (*sharedMetrics, error) {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_overlay_shared_boards_total",
		Help: "Shared overlay boards (origins), by event: saved, conflict (another origin saved first), adopted (another origin's pins taken), error (the board store did not answer)."},
		[]string{"event"})
	v, err := register(reg, v)
	if err != nil {
		return nil, err
	}
	return &sharedMetrics{saves: v.WithLabelValues("saved"), conflicts: v.WithLabelValues("conflict"),
		adopted: v.WithLabelValues("adopted"), errors: v.WithLabelValues("error")}, nil
}
