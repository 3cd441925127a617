package checkout

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are an edge's collectors, registered on the node's registerer.
type metrics struct {
	orders        *prometheus.CounterVec
	acceptLatency *prometheus.HistogramVec
	answerLatency *prometheus.HistogramVec
	lookups       *prometheus.CounterVec
	held          prometheus.Counter
	shipLatency   prometheus.Histogram
	leaseUnits    *prometheus.GaugeVec
	leaseGrant    prometheus.Histogram
	leaseRefills  prometheus.Counter
	fsync         prometheus.Histogram
	batch         prometheus.Histogram
	damaged       *prometheus.CounterVec
	syncLag       prometheus.Gauge
	unshipped     prometheus.Gauge
	revenue       *prometheus.CounterVec
	eventOrders   *prometheus.CounterVec // drop, channel, region: the event KPIs (docs/kpi.md)
	eventUnits    *prometheus.CounterVec
	eventGMV      *prometheus.CounterVec
	shipped       *prometheus.CounterVec
	payments      *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	limitEntries  *prometheus.GaugeVec
	limitRefusals *prometheus.CounterVec
	allowance     *prometheus.CounterVec
}

// answerBuckets resolve the answer latencies a buyer notices: fine below
// 10 ms (sales from the lease), and close steps around the held wait and
// the 250 ms a refusal may take at most.
var answerBuckets = []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5}

func newMetrics(reg prometheus.Registerer, edge string) (*metrics, error) {
	c := prometheus.Labels{"edge": edge}
	m := &metrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_orders_total",
			Help: "Order requests by result (accepted, sold_out, held, not_open, limit, rate_limited, invalid, unavailable, not_found, error).", ConstLabels: c}, []string{"result"}),
		acceptLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "livedrop_checkout_accept_latency_seconds",
			Help: "Time to accept an order (lease: journaled from the lease; direct: sold against the store).", ConstLabels: c,
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"path"}),
		answerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "livedrop_checkout_answer_seconds",
			Help: "Time from an order request to its answer, by result (accepted, sold_out, held, ...).", ConstLabels: c,
			Buckets: answerBuckets}, []string{"result"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_key_lookups_total",
			Help: "Order ids looked up in the store before a refusal or for a marked retry, by outcome (found, not_found, error).", ConstLabels: c}, []string{"outcome"}),
		held: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_checkout_held_answers_total",
			Help: "Store answers that the last units are held by other edges (each is retried within held_wait).", ConstLabels: c}),
		shipLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_checkout_ship_latency_seconds",
			Help: "Time from accepting an order from the lease to the store having it.", ConstLabels: c,
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		leaseUnits: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "livedrop_checkout_lease_units",
			Help: "Units this edge holds in leases, unsold.", ConstLabels: c}, []string{"drop"}),
		leaseGrant: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_checkout_lease_grant_units",
			Help: "Units granted per lease refill (lease size).", ConstLabels: c, Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		leaseRefills: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_checkout_lease_refills_total",
			Help: "Lease refills that granted units.", ConstLabels: c}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_checkout_journal_fsync_seconds",
			Help: "Journal fsync latency.", ConstLabels: c, Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16)}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_checkout_journal_batch_size",
			Help: "Records per journal fsync (group commit).", ConstLabels: c, Buckets: prometheus.ExponentialBuckets(1, 2, 13)}),
		damaged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_journal_damaged_total",
			Help: "Damaged stretches found in the journal at start, by where (tail: cut off and saved to a side file; middle: skipped between intact records).", ConstLabels: c}, []string{"where"}),
		syncLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livedrop_checkout_sync_lag_seconds",
			Help: "Age of the oldest accepted order not yet shipped to the store.", ConstLabels: c}),
		unshipped: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livedrop_checkout_unshipped_orders",
			Help: "Accepted orders not yet shipped to the store.", ConstLabels: c}),
		revenue: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_revenue_cents_total",
			Help: "Revenue of orders accepted at this edge, in cents.", ConstLabels: c}, []string{"currency"}),
		eventOrders: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_event_orders_total",
			Help: "Orders accepted at this edge by drop, buyer channel (kpi.Channel) and region.", ConstLabels: c}, []string{"drop", "channel", "region"}),
		eventUnits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_event_units_sold_total",
			Help: "Units in orders accepted at this edge by drop, buyer channel and region.", ConstLabels: c}, []string{"drop", "channel", "region"}),
		eventGMV: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_event_gmv_cents_total",
			Help: "GMV (order totals, in cents) accepted at this edge by drop, buyer channel, region and currency.", ConstLabels: c}, []string{"drop", "channel", "region", "currency"}),
		shipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_shipped_orders_total",
			Help: "Orders shipped to the store by outcome.", ConstLabels: c}, []string{"outcome"}),
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_payments_total",
			Help: "Payments by result (paid, declined, refunded, error).", ConstLabels: c}, []string{"result"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_rate_limited_total",
			Help: "Orders refused by the per-second rate limit, by who it counts (buyer, device, ip).", ConstLabels: c}, []string{"kind"}),
		limitEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "livedrop_checkout_limiter_entries",
			Help: "Subjects this edge keeps limit state for, by what (rate_buyer, rate_device, rate_ip: rate limiters; allowance: purchase-limit allowances held).", ConstLabels: c}, []string{"what"}),
		limitRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_limit_refusals_total",
			Help: "Orders refused for a purchase limit (max_per_buyer, max_per_device, max_per_ip), by kind (buyer, device, ip).", ConstLabels: c}, []string{"kind"}),
		allowance: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_allowance_events_total",
			Help: "Purchase-limit allowances by event: granted, at_limit (nothing left to grant), held_elsewhere (another edge holds it; marked wanted), wanted (another edge asked for one of ours), returned (handed back: wanted, idle), prepare_dropped (Prepare's queue full).", ConstLabels: c}, []string{"event"}),
	}
	for _, col := range []prometheus.Collector{m.rateLimited, m.limitEntries, m.limitRefusals, m.allowance, m.orders, m.acceptLatency, m.answerLatency, m.lookups, m.held, m.shipLatency, m.leaseUnits, m.leaseGrant, m.leaseRefills,
		m.fsync, m.batch, m.damaged, m.syncLag, m.unshipped, m.revenue, m.shipped, m.payments, m.eventOrders, m.eventUnits, m.eventGMV} {
		if err := reg.Register(col); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return nil, err
		}
	}
	return m, nil
}

// resultLabel names an order result for metrics.
func resultLabel(err error) string {
	if err == nil {
		return "accepted"
	}
	switch ClassOf(err) {
	case ClassInvalid:
		return "invalid"
	case ClassNotFound:
		return "not_found"
	case ClassSoldOut:
		return "sold_out"
	case ClassNotOpen:
		return "not_open"
	case ClassLimit:
		return "limit"
	case ClassRateLimited:
		return "rate_limited"
	case ClassUnavailable:
		return "unavailable"
	case ClassHeld:
		return "held"
	case ClassConflict:
		return "conflict"
	case ClassInLine:
		return "in_line"
	}
	return "error"
}
