package auction

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// EdgeMetrics are the bidding side's metrics (an edge).
type EdgeMetrics struct {
	bids    *prometheus.CounterVec
	latency prometheus.Histogram
	dropped prometheus.Counter
}

// NewEdgeMetrics registers the edge's auction metrics on reg.
func NewEdgeMetrics(reg prometheus.Registerer) (*EdgeMetrics, error) {
	m := &EdgeMetrics{
		bids: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_auction_bids_total",
			Help: "Auction bids decided at this edge, by result (accepted, outbid, too_low, auction_over, not_started, error)."}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_auction_bid_seconds",
			Help:    "Time to decide one auction bid at this edge, request to answer.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, 1}}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_auction_updates_dropped_total",
			Help: "Live auction updates not sent to a slow viewer (its queue was full; it gets the next)."}),
	}
	return m, register(reg, m.bids, m.latency, m.dropped)
}

// CloserMetrics are the closing side's metrics (the origin). Each lot is
// counted by the one closer whose Close closed it, however many origins
// settle it.
type CloserMetrics struct {
	won    prometheus.Counter
	unsold prometheus.Counter
	uplift *prometheus.CounterVec
}

// NewCloserMetrics registers the closer's metrics on reg.
func NewCloserMetrics(reg prometheus.Registerer) (*CloserMetrics, error) {
	m := &CloserMetrics{
		won: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_auction_lots_won_total",
			Help: "Auction lots won and made orders."}),
		unsold: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_auction_lots_unsold_total",
			Help: "Auction lots that ended without a sale (no bid, the reserve not met, or the winner's payment declined at the win)."}),
		uplift: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_auction_uplift_cents_total",
			Help: "What won lots sold for above their starting prices, in cents."}, []string{"currency"}),
	}
	return m, register(reg, m.won, m.unsold, m.uplift)
}

func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range cs {
		errs = append(errs, reg.Register(c))
	}
	return errors.Join(errs...)
}
