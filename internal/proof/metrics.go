package proof

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	issued     *prometheus.CounterVec
	denied     *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	passed     prometheus.Counter
	difficulty prometheus.Gauge
	solve      prometheus.Histogram
}

// Refusal reasons, the label values of livedrop_order_gate_refusals_total.
var refusalReasons = []string{"watch_missing", "watch_too_young", "watch_invalid", "watch_expired",
	"watch_other_buyer", "watch_other_stream", "pow_missing", "pow_invalid", "pow_expired",
	"pow_other_buyer", "pow_wrong", "pow_too_easy", "pow_replayed", "pow_busy"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_proofs_issued_total",
			Help: "Proofs handed to viewers: watch proofs (kind=watch) and proof-of-work challenges (kind=pow)."}, []string{"kind"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_watch_proofs_denied_total",
			Help: "Watch proofs not issued, by reason (no_session, session_claimed, not_receiving, invalid)."}, []string{"reason"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_order_gate_refusals_total",
			Help: "Orders of gated drops refused for their proofs, by reason."}, []string{"reason"}),
		passed: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_order_gate_passed_total",
			Help: "Orders of gated drops whose proofs were accepted."}),
		difficulty: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livedrop_pow_difficulty_bits",
			Help: "Leading zero bits the proof-of-work challenges issued now ask for."}),
		solve: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_pow_solve_seconds",
			Help:    "Time pages report they took to solve their proof-of-work challenge.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10}}),
	}
	for _, c := range []prometheus.Collector{m.issued, m.denied, m.refusals, m.passed, m.difficulty, m.solve} {
		if reg != nil {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range []string{"watch", "pow"} {
		m.issued.WithLabelValues(k)
	}
	for _, r := range []string{"no_session", "session_claimed", "not_receiving", "invalid"} {
		m.denied.WithLabelValues(r)
	}
	for _, r := range refusalReasons {
		m.refusals.WithLabelValues(r)
	}
	return m, nil
}
