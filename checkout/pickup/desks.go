package pickup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
)

// The origin's side of the pickup desks: the day's list they cache, the
// batches of collections they sync, and a code's read.

// Bounds of the desks' input.
const (
	// MaxSyncItems is the most collections one sync carries.
	MaxSyncItems = 500
	// MaxClockSkew is how far in the future a desk's collection time may
	// be (a desk's clock runs a little fast) before it is refused.
	MaxClockSkew = 10 * time.Minute
)

// ErrInvalid is bad input from a desk; ErrNotFound an unknown code.
var (
	ErrInvalid  = errors.New("invalid")
	ErrNotFound = errors.New("not found")
)

// Orders reads the orders to be picked up (a *checkout.Control).
type Orders interface {
	// PickupOrdersSince reads the pickup orders each drop recorded past
	// its cursor, and the cursors to pass next.
	PickupOrdersSince(ctx context.Context, cursors map[string]int) ([]checkout.Order, map[string]int, error)
	// Order reads one order (checkout.ErrNotFound).
	Order(ctx context.Context, id string) (checkout.Order, error)
}

// Item is one order of the pickup list.
type Item struct {
	Code       string `json:"code"`
	Display    string `json:"display"`
	Order      string `json:"order"`
	Drop       string `json:"drop"`
	SKU        string `json:"sku"`
	Qty        int    `json:"qty"`
	Status     string `json:"status"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
	// Collected is the code's collection, if it has one.
	Collected *Collection `json:"collected,omitempty"`
	// Conflicts are other desks' attempts (the code's read only).
	Conflicts []Collection `json:"conflicts,omitempty"`
}

// List is the pickup list of a day: every pickup order created by its end
// and not collected before it began.
type List struct {
	Day   string `json:"day"`
	Items []Item `json:"items"`
}

// SyncResult is the answer to one collection of a sync.
type SyncResult struct {
	Code   string `json:"code"`
	Desk   string `json:"desk,omitempty"`
	Status string `json:"status"` // an Outcome, "unknown" or "invalid"
	// Collected is the code's recorded collection (who had it first).
	Collected *Collection `json:"collected,omitempty"`
	Error     string      `json:"error,omitempty"`
	// ID is the collection's id as the desk sent it.
	ID string `json:"id,omitempty"`
}

// Params build Desks.
type Params struct {
	Orders     Orders
	Codes      *Codes
	Store      Store
	Now        func() time.Time // nil: time.Now
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Desks serves the seller's pickup desks.
type Desks struct {
	orders Orders
	codes  *Codes
	store  Store
	now    func() time.Time
	log    *slog.Logger
	// refreshMu serializes the index's catch-ups (index.go).
	refreshMu sync.Mutex

	collected prometheus.Counter
	conflicts prometheus.Counter
	listed    *prometheus.GaugeVec
}

// NewDesks builds Desks.
func NewDesks(p Params) (*Desks, error) {
	if p.Orders == nil || p.Codes == nil || p.Store == nil || p.Registerer == nil {
		return nil, errors.New("pickup: desks need orders, codes, a store and a registerer")
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Desks{orders: p.Orders, codes: p.Codes, store: p.Store, now: p.Now, log: p.Logger.With("component", "pickup"),
		collected: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_pickup_collected_total",
			Help: "Pickup orders handed over at a desk (each code once)."}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedrop_pickup_conflicts_total",
			Help: "Collections of a code already collected at another desk (flagged, not handed over twice)."}),
		listed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "livedrop_pickup_orders",
			Help: "Orders of the last pickup list served, by state (pending, collected)."}, []string{"state"}),
	}
	for _, c := range []prometheus.Collector{d.collected, d.conflicts, d.listed} {
		if err := p.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("pickup: register metrics: %w", err)
		}
	}
	return d, nil
}

// Code is the pickup code of an order (for the edge's confirmation).
func (d *Desks) Code(orderID string) string { return d.codes.Code(orderID) }

// ParseDay reads a ?day= (YYYY-MM-DD, UTC); empty is today.
func (d *Desks) ParseDay(s string) (time.Time, error) {
	if s == "" {
		t := d.now().UTC()
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: day must be YYYY-MM-DD", ErrInvalid)
	}
	return t, nil
}

// refresh brings the index up to date with the orders the store recorded
// since the last call: each order is read once, and a call with nothing
// new reads one order per drop.
func (d *Desks) refresh(ctx context.Context) error {
	d.refreshMu.Lock()
	defer d.refreshMu.Unlock()
	cur, err := d.store.Cursors(ctx)
	if err != nil {
		return err
	}
	orders, next, err := d.orders.PickupOrdersSince(ctx, cur)
	if err != nil {
		return err
	}
	entries := make([]IndexEntry, len(orders))
	for i, o := range orders {
		entries[i] = IndexEntry{Code: d.codes.Code(o.ID), Order: o.ID, Created: o.CreatedAt.UTC()}
	}
	if err := d.store.Index(ctx, entries); err != nil {
		return err
	}
	return d.store.SetCursors(ctx, next)
}

// items reads the indexed orders of codes created before until, with
// their collections, oldest first; an order cancelled or refunded is left
// out and its code retired from the open ones.
func (d *Desks) items(ctx context.Context, codes []string, until time.Time) ([]Item, error) {
	idx, err := d.store.Indexed(ctx, codes)
	if err != nil {
		return nil, err
	}
	entries := make([]IndexEntry, 0, len(idx))
	for _, e := range idx {
		if e.Created.Before(until) {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b IndexEntry) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Code, b.Code)
	})
	items := make([]Item, 0, len(entries))
	var retired []string
	for _, e := range entries {
		o, err := d.orders.Order(ctx, e.Order)
		if errors.Is(err, checkout.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if o.Status == checkout.StatusCancelled || o.Status == checkout.StatusRefunded {
			retired = append(retired, e.Code)
			continue
		}
		items = append(items, Item{Code: e.Code, Display: Display(e.Code), Order: o.ID, Drop: o.Drop, SKU: o.SKU, Qty: o.Qty,
			Status: o.Status, TotalCents: o.TotalCents, Currency: o.Currency})
	}
	listed := make([]string, len(items))
	for i := range items {
		listed[i] = items[i].Code
	}
	got, err := d.store.Collections(ctx, listed)
	if err != nil {
		return nil, err
	}
	for i := range items {
		if c, ok := got[items[i].Code]; ok {
			items[i].Collected = &c
			retired = append(retired, items[i].Code) // open no more (a collect cut off before it said so)
		}
	}
	if err := d.store.Retire(ctx, retired); err != nil {
		return nil, err
	}
	return items, nil
}

// List builds the pickup list of day (its UTC midnight).
func (d *Desks) List(ctx context.Context, day time.Time) (List, error) {
	if err := d.refresh(ctx); err != nil {
		return List{}, err
	}
	codes, err := d.store.DayCodes(ctx, day)
	if err != nil {
		return List{}, err
	}
	all, err := d.items(ctx, codes, day.Add(24*time.Hour))
	if err != nil {
		return List{}, err
	}
	l := List{Day: day.Format(time.DateOnly), Items: make([]Item, 0, len(all))}
	pending, collected := 0, 0
	for _, it := range all {
		if it.Collected != nil && it.Collected.At.Before(day) {
			continue
		}
		if it.Collected != nil {
			collected++
		} else {
			pending++
		}
		l.Items = append(l.Items, it)
	}
	d.listed.WithLabelValues("pending").Set(float64(pending))
	d.listed.WithLabelValues("collected").Set(float64(collected))
	return l, nil
}

// Lookup reads one code: its order, collection and conflicts.
func (d *Desks) Lookup(ctx context.Context, raw string) (Item, error) {
	code, ok := Normalize(raw)
	if !ok {
		return Item{}, fmt.Errorf("%w: a pickup code is %d of %s", ErrInvalid, CodeLen, Alphabet)
	}
	if err := d.refresh(ctx); err != nil {
		return Item{}, err
	}
	all, err := d.items(ctx, []string{code}, d.now().Add(MaxClockSkew))
	if err != nil {
		return Item{}, err
	}
	for _, it := range all {
		if it.Code == code {
			if it.Conflicts, err = d.store.Conflicts(ctx, code); err != nil {
				return Item{}, err
			}
			return it, nil
		}
	}
	return Item{}, fmt.Errorf("pickup code %s: %w", Display(code), ErrNotFound)
}

// Sync records a desk's batch of local collections, each once, and answers
// per item. A bad item is answered "invalid" and changes nothing; the rest
// are recorded.
func (d *Desks) Sync(ctx context.Context, batch []Collection) ([]SyncResult, error) {
	if len(batch) == 0 || len(batch) > MaxSyncItems {
		return nil, fmt.Errorf("%w: a sync holds 1-%d collections", ErrInvalid, MaxSyncItems)
	}
	now := d.now()
	if err := d.refresh(ctx); err != nil {
		return nil, err
	}
	codes := make([]string, 0, len(batch))
	named := make(map[string]bool, len(batch))
	for _, c := range batch {
		if code, ok := Normalize(c.Code); ok && !named[code] {
			named[code] = true
			codes = append(codes, code)
		}
	}
	all, err := d.items(ctx, codes, now.Add(MaxClockSkew))
	if err != nil {
		return nil, err
	}
	byCode := make(map[string]Item, len(all))
	for _, it := range all {
		byCode[it.Code] = it
	}
	out := make([]SyncResult, len(batch))
	for i, c := range batch {
		code, ok := Normalize(c.Code)
		r := SyncResult{Code: code, Desk: c.Desk, ID: c.ID}
		it, known := byCode[code]
		switch {
		case !ok:
			r.Code, r.Status, r.Error = c.Code, "invalid", "a pickup code is 8 of "+Alphabet
		case !checkout.ValidID(c.Desk):
			r.Status, r.Error = "invalid", "desk must be 1-64 of [A-Za-z0-9_-]"
		case c.ID != "" && !checkout.ValidID(c.ID):
			r.Status, r.Error = "invalid", "a collection id must be 1-64 of [A-Za-z0-9_-]"
		case c.At.After(now.Add(MaxClockSkew)):
			r.Status, r.Error = "invalid", "collected in the future: check the desk's clock"
		case !known:
			r.Status, r.Error = "unknown", "no pickup order has this code"
		}
		if r.Status != "" {
			out[i] = r
			continue
		}
		at := c.At
		if at.IsZero() {
			at = now
		}
		res, err := d.store.Collect(ctx, Collection{Code: code, Desk: c.Desk, At: at.UTC(), Order: it.Order, ID: c.ID})
		if err != nil {
			return nil, err
		}
		switch {
		case res.Outcome == Collected && res.New:
			d.collected.Inc()
		case res.Outcome == Conflict && res.New:
			d.conflicts.Inc()
			d.log.Warn("pickup code collected at two desks", "code", Display(code), "first_desk", res.First.Desk, "desk", c.Desk)
		}
		first := res.First
		r.Status, r.Collected = string(res.Outcome), &first
		out[i] = r
	}
	return out, nil
}

// Collected is the counter of collections (for tests).
func (d *Desks) Collected() prometheus.Counter { return d.collected }

// Conflicts is the counter of conflicts (for tests).
func (d *Desks) Conflicts() prometheus.Counter { return d.conflicts }
