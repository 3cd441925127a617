package checkout

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ControlParams builds a Control.
type ControlParams struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Config     Config
	Store      Store
	// OnDropState, when set, is told after a drop was opened or closed
	// (overlays hide a closed drop's cards at once). It must not block.
	OnDropState func(drop, state string)
	// RSVP signs the RSVP tokens the seller issues (nil: none issued).
	RSVP *RSVPKeys
	// Payment refunds the payments of orders the seller refunds (nil: the
	// provider Config.Payment selects).
	Payment PaymentProvider
	// Now is the clock RSVP deadlines and the opening schedule are checked
	// against (nil: time.Now; tests).
	Now func() time.Time
}

// Control is the seller's side on the origin: it creates, opens and closes
// drops, issues RSVP tokens (control_rsvp.go), reads their totals, and (in
// Run) cancels orders whose hold expired, reclaims leases of edges that
// stopped renewing them and returns reserved units whose deadline passed.
type Control struct {
	cfg    Config
	logger *slog.Logger
	store  Store

	onState func(drop, state string)
	rsvp    *controlRSVP // control_rsvp.go
	now     func() time.Time
	lot     *lotteryMetrics
	pay     PaymentProvider
	refunds *prometheus.CounterVec // control_orders.go
	edits   *dropEdits             // control_drops.go
	reports reportCache            // control_report_cache.go
	waitlst *prometheus.CounterVec // control_waitlist.go: waitlist offers

	holdsExpired  prometheus.Counter
	leaseReclaims prometheus.Counter
}

// NewControl checks the parameters and builds a Control.
func NewControl(p ControlParams) (*Control, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Store == nil || p.Registerer == nil {
		return nil, fmt.Errorf("checkout control: store and registerer are required: %w", ErrInvalid)
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Control{
		cfg: p.Config, logger: p.Logger.With("component", "checkout-control"), store: p.Store, onState: p.OnDropState,
		holdsExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_checkout_holds_expired_total",
			Help: "Orders cancelled because their payment was not confirmed within the hold time."}),
		leaseReclaims: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_checkout_lease_reclaimed_units_total",
			Help: "Units returned to drops from leases that expired (edge gone)."}),
	}
	for _, col := range []prometheus.Collector{c.holdsExpired, c.leaseReclaims} {
		if err := p.Registerer.Register(col); err != nil {
			return nil, fmt.Errorf("checkout control metrics: %w", err)
		}
	}
	rsvp, err := newControlRSVP(p)
	if err != nil {
		return nil, err
	}
	c.rsvp = rsvp
	c.now = p.Now
	if c.now == nil {
		c.now = time.Now
	}
	lot, err := newLotteryMetrics(p.Registerer)
	if err != nil {
		return nil, fmt.Errorf("checkout control metrics: %w", err)
	}
	c.lot = lot
	c.pay = p.Payment
	if c.pay == nil {
		c.pay = NewTestProvider(p.Config.Payment)
	}
	if c.refunds, err = newRefundMetrics(p.Registerer); err != nil {
		return nil, fmt.Errorf("checkout control metrics: %w", err)
	}
	if c.edits, err = newDropEdits(p.Registerer); err != nil {
		return nil, fmt.Errorf("checkout control metrics: %w", err)
	}
	if c.waitlst, err = newWaitlistOffers(p.Registerer); err != nil {
		return nil, fmt.Errorf("checkout control metrics: %w", err)
	}
	return c, nil
}

// CreateDrop creates a drop in state created.
func (c *Control) CreateDrop(ctx context.Context, d Drop) (Drop, error) {
	d, err := c.createDrop(ctx, d)
	if err == nil {
		c.edits.total.WithLabelValues("create").Inc()
	}
	return d, err
}

func (c *Control) createDrop(ctx context.Context, d Drop) (Drop, error) {
	if err := d.Validate(); err != nil {
		return Drop{}, err
	}
	d.State = StateCreated
	if err := c.store.CreateDrop(ctx, d); err != nil {
		return Drop{}, err
	}
	c.logger.Info("drop created", "drop", d.ID, "stream", d.Stream, "skus", len(d.SKUs))
	return d, nil
}

// Open opens a drop for orders; a lottery drop starts its window instead
// (the draw opens it).
func (c *Control) Open(ctx context.Context, id string) error {
	if ValidID(id) {
		if d, err := c.store.Drop(ctx, id); err == nil && d.Lottery != nil && d.State == StateCreated {
			_, err := c.startLottery(ctx, id)
			return err
		}
	}
	return c.setState(ctx, id, StateOpen)
}

// Close closes a drop: edges stop selling within one sync interval and
// return their leases.
func (c *Control) Close(ctx context.Context, id string) error {
	return c.setState(ctx, id, StateClosed)
}

func (c *Control) setState(ctx context.Context, id, state string) error {
	if !ValidID(id) {
		return fmt.Errorf("drop id: %w", ErrInvalid)
	}
	if err := c.store.SetState(ctx, id, state); err != nil {
		return err
	}
	c.logger.Info("drop state changed", "drop", id, "state", state)
	if c.onState != nil {
		c.onState(id, state)
	}
	return nil
}

// Totals reads a drop's live totals.
func (c *Control) Totals(ctx context.Context, id string) (Totals, error) {
	if !ValidID(id) {
		return Totals{}, fmt.Errorf("drop id: %w", ErrInvalid)
	}
	t, err := c.store.Totals(ctx, id)
	if err != nil {
		return Totals{}, err
	}
	if d, err := c.store.Drop(ctx, id); err != nil {
		return Totals{}, err
	} else if err := c.splitRevenue(ctx, d, &t); err != nil { // control_totals.go
		return Totals{}, err
	}
	t.Lottery, err = lotteryOf(ctx, c.store, id)
	return t, err
}

// Run reaps expired holds and leases every reap interval, and opens drops
// on time (control_schedule.go), until ctx ends.
func (c *Control) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.scheduleLoop(ctx) }()
	defer wg.Wait()
	t := time.NewTicker(c.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		c.reap(ctx)
	}
}

func (c *Control) reap(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.ReapInterval+c.cfg.StoreTimeout)
	defer cancel()
	ids, err := c.store.ListDrops(cctx)
	if err != nil {
		c.logger.Debug("reap: list drops", "err", err)
		return
	}
	for _, id := range ids {
		n, err := c.store.ReapHolds(cctx, id)
		c.holdsExpired.Add(float64(n))
		if n > 0 {
			c.logger.Info("holds expired", "drop", id, "orders", n)
		}
		if err != nil {
			c.logger.Debug("reap holds", "drop", id, "err", err)
		}
		u, err := c.store.ReapLeases(cctx, id)
		c.leaseReclaims.Add(float64(u))
		if u > 0 {
			c.logger.Warn("expired leases reclaimed", "drop", id, "units", u)
		}
		if err != nil {
			c.logger.Debug("reap leases", "drop", id, "err", err)
		}
		c.reapRSVPs(cctx, id)
		c.offerWaitlist(cctx, id) // control_waitlist.go: units that came back go to the waitlist
	}
}
