// Package formats reads what each sale format's store keeps (auction lots
// and their bids, giveaways and their entrants, the wallet ledger, pickup
// orders and their collections) into the event report's inputs
// (kpi.FormatEvents); internal/kpi computes the figures.
package formats

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/checkout/wallet"
	"github.com/livedrop/livedrop/internal/kpi"
)

// DefaultMaxAge is how long a read of the stores is reused: the report
// page asks every second, and the pickup orders are a read of every
// drop's orders (the sales' cache holds as long: checkout's reportMaxAge).
const DefaultMaxAge = 5 * time.Second

// PickupOrders reads the orders to be picked up (a *checkout.Control).
type PickupOrders interface {
	PickupOrders(ctx context.Context, until time.Time) ([]checkout.Order, error)
}

// Params build a Reader; a nil store leaves its format empty.
type Params struct {
	Lots      auction.Store
	Giveaways giveaway.Store
	Wallet    wallet.Store
	// Pickups, Orders and Codes read the pickup orders and, by their codes,
	// their collections (no Codes: every pickup order reads pending).
	Pickups pickup.Store
	Orders  PickupOrders
	Codes   *pickup.Codes
	MaxAge  time.Duration // 0: DefaultMaxAge
	Now     func() time.Time
}

// Reader reads the formats' stores for the report.
type Reader struct {
	p Params

	mu     sync.Mutex
	ev     kpi.FormatEvents
	readAt time.Time
}

// New returns a Reader on p.
func New(p Params) *Reader {
	if p.MaxAge <= 0 {
		p.MaxAge = DefaultMaxAge
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Reader{p: p}
}

// Formats computes the format figures over [from, to) from the stores (or
// their read of less than MaxAge ago).
func (r *Reader) Formats(ctx context.Context, from, to time.Time) (kpi.FormatFigures, error) {
	ev, err := r.cached(ctx)
	if err != nil {
		return kpi.FormatFigures{}, err
	}
	return kpi.ComputeFormats(ev, from, to), nil
}

func (r *Reader) cached(ctx context.Context) (kpi.FormatEvents, error) {
	now := r.p.Now()
	r.mu.Lock()
	if !r.readAt.IsZero() && now.Sub(r.readAt) < r.p.MaxAge {
		ev := r.ev
		r.mu.Unlock()
		return ev, nil
	}
	r.mu.Unlock()
	ev, err := r.Events(ctx)
	if err != nil {
		return kpi.FormatEvents{}, err
	}
	r.mu.Lock()
	r.ev, r.readAt = ev, now
	r.mu.Unlock()
	return ev, nil
}

// Events reads every format's store now.
func (r *Reader) Events(ctx context.Context) (kpi.FormatEvents, error) {
	var ev kpi.FormatEvents
	var err error
	if ev.Lots, err = r.lots(ctx); err != nil {
		return ev, fmt.Errorf("report auctions: %w", err)
	}
	if ev.Giveaways, err = r.giveaways(ctx); err != nil {
		return ev, fmt.Errorf("report giveaways: %w", err)
	}
	if ev.Wallet, err = r.wallet(ctx); err != nil {
		return ev, fmt.Errorf("report wallet: %w", err)
	}
	if ev.Pickups, err = r.pickups(ctx); err != nil {
		return ev, fmt.Errorf("report pickup: %w", err)
	}
	return ev, nil
}

// lots reads every started lot with its bids. A lot past its end counts
// as ended even before the closer marks it; one still running is read up
// to the store's now.
func (r *Reader) lots(ctx context.Context) ([]kpi.Lot, error) {
	s := r.p.Lots
	if s == nil {
		return nil, nil
	}
	ids, err := s.Lots(ctx)
	if err != nil {
		return nil, err
	}
	now, err := s.Now(ctx)
	if err != nil {
		return nil, err
	}
	nowMS := now.UnixMilli()
	var out []kpi.Lot
	for _, id := range ids {
		snap, err := s.Lot(ctx, id)
		if err != nil {
			return nil, err
		}
		if snap.StartedMS == 0 || snap.State.Phase == auction.PhaseCreated {
			continue
		}
		log, err := s.Log(ctx, id)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		var bidders []string
		for _, rec := range log {
			if rec.Result.Valid() && !seen[rec.Buyer] {
				seen[rec.Buyer] = true
				bidders = append(bidders, rec.Buyer)
			}
		}
		l, st := snap.Lot, snap.State
		live := st.Phase == auction.PhaseLive && nowMS < st.EndsMS
		ends := st.EndsMS
		if live {
			ends = nowMS
		}
		_, price, won := auction.Winner(l, st)
		won = won && !(snap.Closed && snap.OrderID == "") // closed with no order: its payment declined at the win
		if !won {
			price = st.PriceCents
		}
		out = append(out, kpi.Lot{ID: l.ID, Title: l.Title, Currency: l.Currency, StartCents: l.StartCents,
			StartedAt: time.UnixMilli(snap.StartedMS).UTC(), EndsAt: time.UnixMilli(ends).UTC(), Live: live,
			Won: won && !live, FinalCents: price, Bids: st.Bids, Bidders: bidders})
	}
	return out, nil
}

func (r *Reader) giveaways(ctx context.Context) ([]kpi.Giveaway, error) {
	s := r.p.Giveaways
	if s == nil {
		return nil, nil
	}
	ids, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]kpi.Giveaway, 0, len(ids))
	for _, id := range ids {
		rec, res, drawn, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		entrants, err := s.Entrants(ctx, id)
		if err != nil {
			return nil, err
		}
		g := kpi.Giveaway{ID: id, Prize: rec.Info.Prize, StartedAt: rec.Info.StartedAt, Entrants: entrants}
		if drawn {
			g.Winner = res.Winner
		}
		out = append(out, g)
	}
	return out, nil
}

func (r *Reader) wallet(ctx context.Context) ([]kpi.WalletMove, error) {
	if r.p.Wallet == nil {
		return nil, nil
	}
	entries, err := r.p.Wallet.Ledger(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]kpi.WalletMove, 0, len(entries))
	for _, e := range entries {
		out = append(out, kpi.WalletMove{Kind: string(e.Kind), AmountCents: e.AmountCents, Currency: e.Currency, At: e.At})
	}
	return out, nil
}

func (r *Reader) pickups(ctx context.Context) ([]kpi.PickupOrder, error) {
	if r.p.Orders == nil {
		return nil, nil
	}
	orders, err := r.p.Orders.PickupOrders(ctx, r.p.Now().Add(pickup.MaxClockSkew))
	if err != nil {
		return nil, err
	}
	out := make([]kpi.PickupOrder, len(orders))
	codes := make([]string, len(orders))
	for i, o := range orders {
		out[i] = kpi.PickupOrder{Order: o.ID, CreatedAt: o.CreatedAt}
		if r.p.Codes != nil {
			codes[i] = r.p.Codes.Code(o.ID)
		}
	}
	if r.p.Codes == nil || r.p.Pickups == nil || len(orders) == 0 {
		return out, nil
	}
	got, err := r.p.Pickups.Collections(ctx, codes)
	if err != nil {
		return nil, err
	}
	conflicts, err := r.p.Pickups.ConflictCounts(ctx, codes)
	if err != nil {
		return nil, err
	}
	for i, c := range codes {
		if col, ok := got[c]; ok {
			out[i].CollectedAt = col.At
		}
		out[i].Conflicts = conflicts[c]
	}
	return out, nil
}
