package buyer

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the sign-in and session counters of one edge.
type Metrics struct {
	// SignIns counts sign-ins by method (email, guest) and result (ok,
	// wrong_code, no_code, locked, rate_limited, invalid, unavailable).
	SignIns *prometheus.CounterVec
	// CodesSent counts emailed codes by result (sent, failed).
	CodesSent *prometheus.CounterVec
	// CodeSendSeconds is how long handing a code to the relay took.
	CodeSendSeconds prometheus.Histogram
	// CodeFailures counts codes refused by reason (wrong, no_code, locked).
	CodeFailures *prometheus.CounterVec
	// Lockouts counts emails locked after too many wrong codes.
	Lockouts prometheus.Counter
	// SessionFailures counts session tokens refused, by reason (missing,
	// malformed, unknown_key, bad_signature, expired, invalid_claims).
	SessionFailures *prometheus.CounterVec
	// ConsentWithdrawals counts marketing consents buyers withdrew.
	ConsentWithdrawals prometheus.Counter
}

func newMetrics() *Metrics {
	return &Metrics{
		SignIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_buyer_signins_total",
			Help: "Buyer sign-ins by method (email, guest) and result.",
		}, []string{"method", "result"}),
		CodesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_buyer_codes_sent_total",
			Help: "One-time sign-in codes handed to the mail relay (result sent) or not (failed).",
		}, []string{"result"}),
		CodeSendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "livedrop_buyer_code_send_seconds",
			Help:    "Time to hand a sign-in code to the mail relay.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		CodeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_buyer_code_verify_failures_total",
			Help: "Sign-in codes refused, by reason (wrong, no_code, locked).",
		}, []string{"reason"}),
		Lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livedrop_buyer_code_lockouts_total",
			Help: "Emails locked out after too many wrong sign-in codes.",
		}),
		SessionFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_buyer_session_verify_failures_total",
			Help: "Buyer session tokens refused, by reason.",
		}, []string{"reason"}),
		ConsentWithdrawals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livedrop_buyer_consent_withdrawals_total",
			Help: "Marketing consents withdrawn by buyers (a repeated withdrawal is not counted).",
		}),
	}
}

// NewMetrics registers the counters on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	for _, c := range []prometheus.Collector{m.SignIns, m.CodesSent, m.CodeSendSeconds, m.CodeFailures, m.Lockouts, m.SessionFailures, m.ConsentWithdrawals} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("buyer metrics registered twice on one registry")
			}
			return nil, err
		}
	}
	return m, nil
}
