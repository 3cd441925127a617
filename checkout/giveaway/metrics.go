package giveaway

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count giveaways' starts, entries by result and draws.
type Metrics struct {
	started prometheus.Counter
	entries *prometheus.CounterVec
	draws   prometheus.Counter
}

// NewMetrics registers the giveaway metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		started: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_giveaways_started_total",
			Help: "Giveaways started by the seller."}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_giveaway_entries_total",
			Help: "Giveaway entry taps by result: entered, again, not_watching, not_signed_in, no_purchase, closed, not_found, error."},
			[]string{"result"}),
		draws: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_giveaway_draws_total",
			Help: "Giveaways drawn (a winner picked and given a zero-price order)."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.started, m.entries, m.draws} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// entry counts an entry's result (nil: entered).
func (m *Metrics) entry(err error) {
	var ref *Refusal
	result := "error"
	switch {
	case err == nil:
		result = "entered"
	case errors.As(err, &ref):
		result = ref.Why
	case errors.Is(err, ErrClosed):
		result = "closed"
	case errors.Is(err, ErrNotFound):
		result = "not_found"
	}
	m.entries.WithLabelValues(result).Inc()
}
