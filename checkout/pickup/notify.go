package pickup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
)

// The pickup notice: the code of a pickup order, mailed to its buyer once
// (whichever edge took the order, however often the buyer retried).

// Mailer delivers a pickup code (as shown, "ABCD-EFGH") for order.
type Mailer interface {
	SendPickup(ctx context.Context, to, code, order string) error
}

// Emails finds the email of a buyer; a buyer without one (a guest) is an
// error.
type Emails interface {
	EmailOf(ctx context.Context, buyerID string) (string, error)
}

// LogMailer writes pickup codes to the log: the demo's and a node's
// without a mail relay.
type LogMailer struct{ log *slog.Logger }

// NewLogMailer logs codes to logger.
func NewLogMailer(logger *slog.Logger) *LogMailer {
	return &LogMailer{log: logger.With("component", "pickup-mail")}
}

// SendPickup implements Mailer.
func (m *LogMailer) SendPickup(_ context.Context, to, code, order string) error {
	m.log.Info("pickup code (no mail relay configured: codes are written here)", "to", to, "code", code, "order", order)
	return nil
}

// NotifierParams build a Notifier.
type NotifierParams struct {
	Codes      *Codes
	Store      Store
	Mailer     Mailer
	Emails     Emails
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Queue bounds the notices waiting (0: 256), and apart the notices
	// waiting to be retried; a full queue drops and counts.
	Queue int
	// MaxAttempts bounds the tries of one notice whose mail failed (0:
	// DefaultMaxAttempts); RetryBase is the wait after the first failure
	// (0: DefaultRetryBase), doubling up to RetryMax (0: DefaultRetryMax).
	MaxAttempts         int
	RetryBase, RetryMax time.Duration
}

// Retry defaults of a notice whose mail failed: about 2 s, 4 s, 8 s, 16 s
// between its 5 tries, each wait within 20 % either way.
const (
	DefaultMaxAttempts = 5
	DefaultRetryBase   = 2 * time.Second
	DefaultRetryMax    = 2 * time.Minute
)

// Notifier mails pickup codes off the order path: Notify never blocks; Run
// sends.
type Notifier struct {
	codes  *Codes
	store  Store
	mailer Mailer
	emails Emails
	log    *slog.Logger
	queue  chan checkout.Order
	sent   *prometheus.CounterVec
	// failures counts failed tries (each retried until the bound).
	failures prometheus.Counter

	maxAttempts, maxRetries int
	retryBase, retryMax     time.Duration
}

// notice is one pickup notice in the works.
type notice struct {
	o        checkout.Order
	claimed  bool // MarkMailed gave this notifier the sending
	attempts int  // tries that failed
	due      time.Time
}

// NewNotifier builds a Notifier.
func NewNotifier(p NotifierParams) (*Notifier, error) {
	if p.Codes == nil || p.Store == nil || p.Mailer == nil || p.Emails == nil || p.Registerer == nil {
		return nil, errors.New("pickup: the notifier needs codes, a store, a mailer, emails and a registerer")
	}
	if p.Queue <= 0 {
		p.Queue = 256
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.RetryBase <= 0 {
		p.RetryBase = DefaultRetryBase
	}
	if p.RetryMax <= 0 {
		p.RetryMax = DefaultRetryMax
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{codes: p.Codes, store: p.Store, mailer: p.Mailer, emails: p.Emails,
		log: p.Logger.With("component", "pickup-notice"), queue: make(chan checkout.Order, p.Queue),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_pickup_notices_total",
			Help: "Pickup code emails by result (sent, failed: given up after its retries, no_email: a guest, already: another edge or a retry sent it, dropped: queue or retries full)."},
			[]string{"result"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_pickup_notice_failures_total",
			Help: "Tries of a pickup code email that failed (the relay or the store refused); each is retried with backoff up to the bound, then counted failed in livedrop_pickup_notices_total."}),
		maxAttempts: p.MaxAttempts, maxRetries: p.Queue, retryBase: p.RetryBase, retryMax: p.RetryMax}
	for _, c := range []prometheus.Collector{n.sent, n.failures} {
		if err := p.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("pickup: register metrics: %w", err)
		}
	}
	return n, nil
}

// Notify queues o's notice if it is for pickup.
func (n *Notifier) Notify(o checkout.Order) {
	if o.Fulfilment != checkout.FulfilmentPickup {
		return
	}
	select {
	case n.queue <- o:
	default:
		n.sent.WithLabelValues("dropped").Inc()
	}
}

// Run sends queued notices until ctx ends, and retries the ones whose
// mail failed with growing waits, up to the attempts bound. Notices still
// waiting for a retry when ctx ends are not sent.
func (n *Notifier) Run(ctx context.Context) error {
	var retries []notice // by due time
	for {
		var wake <-chan time.Time
		var timer *time.Timer
		if len(retries) > 0 {
			timer = time.NewTimer(time.Until(retries[0].due))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case o := <-n.queue:
			retries = n.try(ctx, notice{o: o}, retries)
		case <-wake:
			nt := retries[0]
			retries = retries[1:]
			retries = n.try(ctx, nt, retries)
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// try sends nt once; a failed try goes back in retries (kept by due
// time) until its attempts run out or retries are full.
func (n *Notifier) try(ctx context.Context, nt notice, retries []notice) []notice {
	result, err := n.send(ctx, &nt)
	if err == nil {
		n.sent.WithLabelValues(result).Inc()
		return retries
	}
	n.failures.Inc()
	nt.attempts++
	switch {
	case nt.attempts >= n.maxAttempts:
		n.log.Warn("pickup notice not sent: giving up", "order", nt.o.ID, "attempts", nt.attempts, "err", err)
		n.sent.WithLabelValues("failed").Inc()
		return retries
	case len(retries) >= n.maxRetries:
		n.log.Warn("pickup notice not sent: too many waiting for a retry", "order", nt.o.ID, "err", err)
		n.sent.WithLabelValues("dropped").Inc()
		return retries
	}
	nt.due = time.Now().Add(n.backoff(nt.attempts))
	n.log.Info("pickup notice failed: will retry", "order", nt.o.ID, "attempt", nt.attempts, "retry_at", nt.due, "err", err)
	i, _ := slices.BinarySearchFunc(retries, nt, func(a, b notice) int { return a.due.Compare(b.due) })
	return slices.Insert(retries, i, nt)
}

// backoff is the wait after a notice's attempts-th failure: RetryBase
// doubled each time up to RetryMax, within 20 % either way.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.retryBase
	for i := 1; i < attempts && d < n.retryMax; i++ {
		d *= 2
	}
	d = min(d, n.retryMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// send tries nt's mail once: a result when it is done (sent, already,
// no_email), an error when it failed and may be tried again.
func (n *Notifier) send(ctx context.Context, nt *notice) (string, error) {
	code := n.codes.Code(nt.o.ID)
	if !nt.claimed {
		first, err := n.store.MarkMailed(ctx, code)
		if err != nil {
			return "", fmt.Errorf("store unavailable: %w", err)
		}
		if !first {
			return "already", nil
		}
		nt.claimed = true
	}
	to, err := n.emails.EmailOf(ctx, nt.o.Buyer)
	if err != nil {
		return "no_email", nil
	}
	if err := n.mailer.SendPickup(ctx, to, Display(code), nt.o.ID); err != nil {
		return "", err
	}
	return "sent", nil
}

// Failures is the counter of failed tries (for tests).
func (n *Notifier) Failures() prometheus.Counter { return n.failures }

// Counter is the notices counter of result (for tests).
func (n *Notifier) Counter(result string) prometheus.Counter { return n.sent.WithLabelValues(result) }
