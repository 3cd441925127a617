package wallet

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the wallet's counters.
type Metrics struct {
	topUps     *prometheus.CounterVec
	topUpCents *prometheus.CounterVec
	spends     *prometheus.CounterVec
	refunds    prometheus.Counter
	holds      *prometheus.CounterVec
	refused    *prometheus.CounterVec
}

// NewMetrics registers the wallet's counters on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		topUps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_wallet_topups_total",
			Help: "Wallet top-ups asked of this edge, by result (ok, declined, error)."}, []string{"result"}),
		topUpCents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_wallet_topup_cents_total",
			Help: "Money topped up into wallets at this edge, in minor units, by currency."}, []string{"currency"}),
		spends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_wallet_spends_total",
			Help: "Orders paid from a wallet, by result (paid, insufficient, replayed, error)."}, []string{"result"}),
		refunds: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_wallet_refunds_total",
			Help: "Wallet payments credited back to the wallet."}),
		holds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_wallet_holds_total",
			Help: "Wallet holds of orders at this edge before they are accepted, by result (held, replayed: held before, released: the order was refused, reconciled: released at the origin, its order over unpaid or never accepted, error)."}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_wallet_refused_total",
			Help: "Wallet payments and top-ups refused up front, by reason (insufficient_balance, email_required: a guest session)."}, []string{"reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.topUps, m.topUpCents, m.spends, m.refunds, m.holds, m.refused} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) topUp(result string, cents int64, currency string) {
	m.topUps.WithLabelValues(result).Inc()
	if cents > 0 {
		m.topUpCents.WithLabelValues(currency).Add(float64(cents))
	}
}

func (m *Metrics) spend(result string) { m.spends.WithLabelValues(result).Inc() }

func (m *Metrics) hold(result string) { m.holds.WithLabelValues(result).Inc() }

func (m *Metrics) refuse(reason string) { m.refused.WithLabelValues(reason).Inc() }

// liabilityDesc describes the liability gauge.
var liabilityDesc = prometheus.NewDesc("livedrop_wallet_liability_cents",
	"Sum of the buyers' wallet balances and holds (what the seller owes in prepaid credit), in minor units, by currency.",
	[]string{"currency"}, nil)

// LiabilityCollector reads the liability from the store at each scrape.
type LiabilityCollector struct {
	store   Store
	timeout time.Duration
}

// NewLiabilityCollector reads store within timeout per scrape.
func NewLiabilityCollector(store Store, timeout time.Duration) *LiabilityCollector {
	return &LiabilityCollector{store: store, timeout: timeout}
}

// Describe implements prometheus.Collector.
func (c *LiabilityCollector) Describe(ch chan<- *prometheus.Desc) { ch <- liabilityDesc }

// Collect implements prometheus.Collector; an unreachable store reports
// nothing for that scrape.
func (c *LiabilityCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	l, err := c.store.Liability(ctx)
	if err != nil {
		return
	}
	for cur, v := range l {
		ch <- prometheus.MustNewConstMetric(liabilityDesc, prometheus.GaugeValue, float64(v), cur)
	}
}
