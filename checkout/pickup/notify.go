package pickup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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
	// Queue bounds the notices waiting (0: 256); a full queue drops and
	// counts.
	Queue int
}

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
}

// NewNotifier builds a Notifier.
func NewNotifier(p NotifierParams) (*Notifier, error) {
	if p.Codes == nil || p.Store == nil || p.Mailer == nil || p.Emails == nil || p.Registerer == nil {
		return nil, errors.New("pickup: the notifier needs codes, a store, a mailer, emails and a registerer")
	}
	if p.Queue <= 0 {
		p.Queue = 256
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{codes: p.Codes, store: p.Store, mailer: p.Mailer, emails: p.Emails,
		log: p.Logger.With("component", "pickup-notice"), queue: make(chan checkout.Order, p.Queue),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_pickup_notices_total",
			Help: "Pickup code emails by result (sent, failed, no_email: a guest, already: another edge or a retry sent it, dropped: queue full)."},
			[]string{"result"})}
	if err := p.Registerer.Register(n.sent); err != nil {
		return nil, fmt.Errorf("pickup: register metrics: %w", err)
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

// Run sends queued notices until ctx ends.
func (n *Notifier) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case o := <-n.queue:
			n.sent.WithLabelValues(n.send(ctx, o)).Inc()
		}
	}
}

// send mails o's code once and says what happened.
func (n *Notifier) send(ctx context.Context, o checkout.Order) string {
	code := n.codes.Code(o.ID)
	first, err := n.store.MarkMailed(ctx, code)
	if err != nil {
		n.log.Warn("pickup notice not sent: store unavailable", "order", o.ID, "err", err)
		return "failed"
	}
	if !first {
		return "already"
	}
	to, err := n.emails.EmailOf(ctx, o.Buyer)
	if err != nil {
		return "no_email"
	}
	if err := n.mailer.SendPickup(ctx, to, Display(code), o.ID); err != nil {
		n.log.Warn("pickup notice not sent", "order", o.ID, "err", err)
		return "failed"
	}
	return "sent"
}

// Counter is the notices counter of result (for tests).
func (n *Notifier) Counter(result string) prometheus.Counter { return n.sent.WithLabelValues(result) }
