// Package kpi computes an event's figures (GMV, revenue per hour, orders,
// average order value, conversion, concurrency, watch time, consents,
// sell-through, time to sell out), in total and split by channel and region,
// from what happened: viewer joins and leaves, orders, consents and drops.
// It knows no protocol and no store; docs/kpi.md gives each formula.
package kpi

import (
	"sort"
	"time"
)

// View is a viewer session joining (Join) or leaving (!Join) the stream.
// Viewer names the person (the same device or buyer across sessions);
// Session names one session, which a leave must repeat.
type View struct {
	Viewer, Session string
	Channel, Region string
	Join            bool
	At              time.Time
}

// Sale is one accepted order (a cancelled order is not a sale).
type Sale struct {
	Drop, Buyer     string
	Channel, Region string
	Qty             int
	TotalCents      int64
	// Currency is the ISO 4217 code TotalCents is in (regional prices sell
	// one drop in several).
	Currency string
	// Paid marks an order whose payment was confirmed: revenue counts
	// only those, GMV counts every sale.
	Paid bool
	At   time.Time
}

// Consent is a new e-mail address given with marketing consent.
type Consent struct {
	Channel, Region string
	At              time.Time
}

// Drop is a drop's stock and when it opened.
type Drop struct {
	ID       string
	Stock    int
	OpenedAt time.Time
}

// Events is everything the figures are computed from.
type Events struct {
	Views    []View
	Sales    []Sale
	Consents []Consent
	Drops    []Drop
}

// Figures are the KPIs of one slice of an event (all, one channel, one
// region) over a window [From, To).
type Figures struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Currency is the currency of every money figure below: that of all
	// the sales counted, "" without sales, or Mixed when they were in
	// several (the money figures then add unlike units: read them per
	// currency, ByCurrency).
	Currency            string  `json:"currency,omitempty"`
	GMVCents            int64   `json:"gmv_cents"`              // sum of sales' totals
	RevenueCents        int64   `json:"revenue_cents"`          // sum of paid sales' totals
	GMVPerHourCents     float64 `json:"gmv_per_hour_cents"`     // GMVCents / window hours
	RevenuePerHourCents float64 `json:"revenue_per_hour_cents"` // RevenueCents / window hours
	Orders              int     `json:"orders"`
	Buyers              int     `json:"buyers"`    // distinct buyers
	AOVCents            float64 `json:"aov_cents"` // GMVCents / Orders (0 without orders)
	UniqueViewers       int     `json:"unique_viewers"`
	Conversion          float64 `json:"conversion"` // Buyers / UniqueViewers (0 without viewers)
	PeakConcurrent      int     `json:"peak_concurrent"`
	CurrentConcurrent   int     `json:"current_concurrent"` // sessions open at To
	WatchSeconds        float64 `json:"watch_seconds"`      // total watch time in the window
	AvgWatchSeconds     float64 `json:"avg_watch_seconds"`  // WatchSeconds / UniqueViewers
	NewConsents         int     `json:"new_consents"`
}

// DropFigures are one drop's sell-through.
type DropFigures struct {
	Drop        string  `json:"drop"`
	Stock       int     `json:"stock"`
	Sold        int     `json:"sold"`
	SellThrough float64 `json:"sell_through"` // Sold / Stock (0 without stock)
	// SoldOutAfter is from the drop's opening to the sale of its last
	// unit; 0 while units are left.
	SoldOutAfter time.Duration `json:"sold_out_after_ns,omitempty"`
}

// Mixed is Figures.Currency for sales in more than one currency.
const Mixed = "mixed"

// Compute returns the figures of every event in [from, to).
func Compute(ev Events, from, to time.Time) Figures {
	return compute(ev, from, to, func(string, string) bool { return true })
}

// ByCurrency returns the sales figures per currency over [from, to):
// GMV, revenue, orders, buyers and AOV of the sales in that currency;
// viewers and consents have no currency and read 0 there.
func ByCurrency(ev Events, from, to time.Time) map[string]Figures {
	out := map[string]Figures{}
	for cur, only := range salesByCurrency(ev) {
		out[cur] = Compute(only, from, to)
	}
	return out
}

// MixedByCurrency splits each row of rows (figures of a split, e.g.
// ByChannel's) whose sales were in several currencies into the sales
// figures per currency, computed by split over the sales in each currency
// alone: row key -> currency -> figures (viewers and consents read 0).
// Rows in one currency are not repeated.
func MixedByCurrency(ev Events, from, to time.Time, rows map[string]Figures,
	split func(Events, time.Time, time.Time) map[string]Figures) map[string]map[string]Figures {
	out := map[string]map[string]Figures{}
	for cur, only := range salesByCurrency(ev) {
		for k, f := range split(only, from, to) {
			if rows[k].Currency != Mixed || f.Orders == 0 {
				continue
			}
			if out[k] == nil {
				out[k] = map[string]Figures{}
			}
			out[k][cur] = f
		}
	}
	return out
}

// salesByCurrency returns ev's sales alone, per currency.
func salesByCurrency(ev Events) map[string]Events {
	out := map[string]Events{}
	for _, s := range ev.Sales {
		e := out[s.Currency]
		e.Sales = append(e.Sales, s)
		out[s.Currency] = e
	}
	return out
}

// ByChannel returns the figures per channel over [from, to).
func ByChannel(ev Events, from, to time.Time) map[string]Figures {
	return split(ev, from, to, func(ch, _ string) string { return ch })
}

// ByRegion returns the figures per region over [from, to).
func ByRegion(ev Events, from, to time.Time) map[string]Figures {
	return split(ev, from, to, func(_, re string) string { return re })
}

func split(ev Events, from, to time.Time, key func(ch, region string) string) map[string]Figures {
	keys := map[string]bool{}
	for _, v := range ev.Views {
		keys[key(v.Channel, v.Region)] = true
	}
	for _, s := range ev.Sales {
		keys[key(s.Channel, s.Region)] = true
	}
	for _, c := range ev.Consents {
		keys[key(c.Channel, c.Region)] = true
	}
	out := make(map[string]Figures, len(keys))
	for k := range keys {
		out[k] = compute(ev, from, to, func(ch, re string) bool { return key(ch, re) == k })
	}
	return out
}

func in(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

func compute(ev Events, from, to time.Time, keep func(ch, region string) bool) Figures {
	f := Figures{From: from, To: to}
	buyers := map[string]bool{}
	for _, s := range ev.Sales {
		if !keep(s.Channel, s.Region) || !in(s.At, from, to) {
			continue
		}
		f.Orders++
		switch f.Currency {
		case "":
			f.Currency = s.Currency
		case s.Currency, Mixed:
		default:
			f.Currency = Mixed
		}
		f.GMVCents += s.TotalCents
		if s.Paid {
			f.RevenueCents += s.TotalCents
		}
		buyers[s.Buyer] = true
	}
	f.Buyers = len(buyers)
	if h := to.Sub(from).Hours(); h > 0 {
		f.GMVPerHourCents = float64(f.GMVCents) / h
		f.RevenuePerHourCents = float64(f.RevenueCents) / h
	}
	if f.Orders > 0 {
		f.AOVCents = float64(f.GMVCents) / float64(f.Orders)
	}
	for _, c := range ev.Consents {
		if keep(c.Channel, c.Region) && in(c.At, from, to) {
			f.NewConsents++
		}
	}
	audience(&f, ev.Views, from, to, keep)
	if f.UniqueViewers > 0 {
		f.Conversion = float64(f.Buyers) / float64(f.UniqueViewers)
		f.AvgWatchSeconds = f.WatchSeconds / float64(f.UniqueViewers)
	}
	return f
}

// audience fills the viewer figures: sessions are paired join to leave by
// Session; a session still open counts until to; only the part of a
// session inside [from, to) is watch time, and a viewer counts as unique
// when one of their sessions overlaps the window.
func audience(f *Figures, views []View, from, to time.Time, keep func(ch, region string) bool) {
	vs := make([]View, 0, len(views))
	for _, v := range views {
		if keep(v.Channel, v.Region) && v.At.Before(to) {
			vs = append(vs, v)
		}
	}
	// By time; at the same instant a leave before a join, so a hand-over
	// is not a peak.
	sort.SliceStable(vs, func(i, j int) bool {
		if !vs[i].At.Equal(vs[j].At) {
			return vs[i].At.Before(vs[j].At)
		}
		return !vs[i].Join && vs[j].Join
	})
	type open struct {
		viewer string
		at     time.Time
	}
	sessions := map[string]open{}
	unique := map[string]bool{}
	watch := func(o open, end time.Time) {
		start := o.at
		if start.Before(from) {
			start = from
		}
		if end.After(start) {
			f.WatchSeconds += end.Sub(start).Seconds()
			unique[o.viewer] = true
		} else if !o.at.Before(from) {
			unique[o.viewer] = true // joined in the window, left at once
		}
	}
	now, started := 0, false
	for _, v := range vs {
		if !started && !v.At.Before(from) {
			started = true
			f.PeakConcurrent = now // the sessions open when the window began
		}
		if v.Join {
			if _, dup := sessions[v.Session]; dup {
				continue // a repeated join changes nothing
			}
			sessions[v.Session] = open{v.Viewer, v.At}
			now++
		} else {
			o, ok := sessions[v.Session]
			if !ok {
				continue // a leave without its join
			}
			delete(sessions, v.Session)
			now--
			watch(o, v.At)
		}
		if !v.At.Before(from) && now > f.PeakConcurrent {
			f.PeakConcurrent = now
		}
	}
	if now > f.PeakConcurrent {
		f.PeakConcurrent = now // no event in the window: those open all along
	}
	f.CurrentConcurrent = now
	for _, o := range sessions {
		watch(o, to)
	}
	f.UniqueViewers = len(unique)
}

// Drops returns each drop's sell-through from every sale.
func Drops(ev Events) []DropFigures {
	sales := append([]Sale(nil), ev.Sales...)
	sort.SliceStable(sales, func(i, j int) bool { return sales[i].At.Before(sales[j].At) })
	out := make([]DropFigures, 0, len(ev.Drops))
	for _, d := range ev.Drops {
		df := DropFigures{Drop: d.ID, Stock: d.Stock}
		for _, s := range sales {
			if s.Drop != d.ID {
				continue
			}
			df.Sold += s.Qty
			if df.SoldOutAfter == 0 && d.Stock > 0 && df.Sold >= d.Stock && !d.OpenedAt.IsZero() {
				df.SoldOutAfter = s.At.Sub(d.OpenedAt)
			}
		}
		if d.Stock > 0 {
			df.SellThrough = float64(df.Sold) / float64(d.Stock)
		}
		out = append(out, df)
	}
	return out
}
