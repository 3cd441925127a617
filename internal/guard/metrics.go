package guard

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the guard's counters, shared by every guard of a registry.
type Metrics struct {
	// Failures counts wrong or refused credentials by surface
	// (rtsp_publish, rtsp_read, control) and reason.
	Failures *prometheus.CounterVec
	// Lockouts counts lockouts begun, by surface.
	Lockouts *prometheus.CounterVec
}

func newMetrics() *Metrics {
	return &Metrics{
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_auth_failures_total",
			Help: "Authentication attempts refused: wrong credentials, or turned away by a lockout (reason locked_out).",
		}, []string{"surface", "reason"}),
		Lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_auth_lockouts_total",
			Help: "Lockouts of a client address or an account after too many failures.",
		}, []string{"surface"}),
	}
}

// NewMetrics registers the guard's counters on reg, or returns those
// already registered there (the origin and its control API share them).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	var err error
	if m.Failures, err = register(reg, m.Failures); err != nil {
		return nil, err
	}
	if m.Lockouts, err = register(reg, m.Lockouts); err != nil {
		return nil, err
	}
	return m, nil
}

func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return c, err
}
