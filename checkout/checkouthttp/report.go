package checkouthttp

import (
	"context"
	"encoding/csv"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/kpi"
)

// ViewSource gives a stream's viewer joins and leaves (a viewlog.Book).
type ViewSource interface {
	Views(stream string) ([]kpi.View, uint64)
}

// SetViews makes the report read the viewer figures from v; without it
// they read zero.
func (a *ControlAPI) SetViews(v ViewSource) { a.views = v }

// ConsentCounter counts the emails first given with marketing consent (and
// not withdrawn since) in [from, to), in total and per channel and region
// (report_consents.go): the buyer store (buyer.Store.Counts).
type ConsentCounter func(ctx context.Context, from, to time.Time) (ConsentCounts, error)

// SetConsents gives the report its "new emails with consent" figures; it
// may be called while the API serves.
func (a *ControlAPI) SetConsents(c ConsentCounter) { a.consents.Store(&c) }

// Report is the body of GET /v1/drops/{id}/report: the drop's event
// figures (internal/kpi) in total, per channel, per region, and its
// sell-through; the viewer figures are those of the drop's stream's
// sessions (SetViews).
type Report struct {
	Drop      string                 `json:"drop"`
	Stream    string                 `json:"stream"`
	Total     kpi.Figures            `json:"total"`
	ByChannel map[string]kpi.Figures `json:"by_channel"`
	ByRegion  map[string]kpi.Figures `json:"by_region"`
	// ByCurrency holds the sales figures per currency: with regional
	// prices one drop sells in several, and Total.Currency says "mixed".
	ByCurrency map[string]kpi.Figures `json:"by_currency"`
	// ByChannelCurrency and ByRegionCurrency split each channel or region
	// row whose sales were in several currencies ("mixed") into its sales
	// figures per currency: row -> currency -> figures.
	ByChannelCurrency map[string]map[string]kpi.Figures `json:"by_channel_currency,omitempty"`
	ByRegionCurrency  map[string]map[string]kpi.Figures `json:"by_region_currency,omitempty"`
	Drops             []kpi.DropFigures                 `json:"drops"`
	// Formats is the "Sale formats" section (report_formats.go).
	Formats *kpi.FormatFigures `json:"formats,omitempty"`
}

// salesCache keeps the KPI sales of the last orders read
// (Control.CachedSales returns the same slice while they are unchanged).
type salesCache struct {
	mu     sync.Mutex
	drop   string
	orders []checkout.Order
	ev     kpi.Events
}

func (c *salesCache) of(d checkout.Drop, orders []checkout.Order) kpi.Events {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drop == d.ID && len(c.orders) == len(orders) && len(orders) > 0 && &c.orders[0] == &orders[0] {
		ev := c.ev
		ev.Views = nil
		return ev
	}
	ev := eventsOf(d, orders)
	c.drop, c.orders, c.ev = d.ID, orders, ev
	return ev
}

// eventsOf turns a drop's orders into the KPI inputs: cancelled orders are
// not sales; the drop opened when the store saw it open, else at opens_at,
// and never after its first order.
func eventsOf(d checkout.Drop, orders []checkout.Order) kpi.Events {
	var ev kpi.Events
	stock := 0
	for _, k := range d.SKUs {
		stock += k.Stock
	}
	opened := d.OpenedAt
	if opened.IsZero() {
		opened = d.OpensAt
	}
	for _, o := range orders {
		if o.Status == checkout.StatusCancelled {
			continue
		}
		ev.Sales = append(ev.Sales, kpi.Sale{Drop: o.Drop, Buyer: o.Buyer, Channel: kpi.Channel(o.Channel), Region: o.Region,
			Qty: o.Qty, TotalCents: o.TotalCents, Currency: o.Currency, Paid: o.Status == checkout.StatusPaid, At: o.CreatedAt})
		if opened.IsZero() || o.CreatedAt.Before(opened) {
			opened = o.CreatedAt
		}
	}
	ev.Drops = []kpi.Drop{{ID: d.ID, Stock: stock, OpenedAt: opened}}
	return ev
}

// reportWindow reads from and to (RFC 3339) from the query; from defaults
// to the drop's opening, to to now.
func reportWindow(r *http.Request, ev kpi.Events, now time.Time) (from, to time.Time, err error) {
	from, to = ev.Drops[0].OpenedAt, now
	if from.IsZero() {
		from = now
	}
	for name, t := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := r.URL.Query().Get(name); v != "" {
			if *t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return from, to, fmt.Errorf("%w: %s must be an RFC 3339 time", checkout.ErrInvalid, name)
			}
		}
	}
	if !to.After(from) {
		to = from.Add(time.Second)
	}
	return from, to, nil
}

// report answers GET /v1/drops/{id}/report as JSON, or as CSV with
// ?format=csv (one row per scope: total, channel:X, region:X).
func (a *ControlAPI) report(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		writeError(w, a.logger, fmt.Errorf("%w: format must be json or csv", checkout.ErrInvalid))
		return
	}
	d, orders, err := a.ctl.CachedSales(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	rep, err := a.reportOf(r, d, orders)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	if format != "csv" {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="report-`+d.ID+`.csv"`)
	_ = WriteReportCSV(w, rep)
}

// reportOf computes d's report over the request's window from its orders
// and its stream's views.
func (a *ControlAPI) reportOf(r *http.Request, d checkout.Drop, orders []checkout.Order) (Report, error) {
	ev := a.sales.of(d, orders)
	if a.views != nil && d.Stream != "" {
		ev.Views, _ = a.views.Views(d.Stream)
	}
	from, to, err := reportWindow(r, ev, time.Now().UTC())
	if err != nil {
		return Report{}, err
	}
	rep := Report{Drop: d.ID, Stream: d.Stream, Total: kpi.Compute(ev, from, to),
		ByChannel: kpi.ByChannel(ev, from, to), ByRegion: kpi.ByRegion(ev, from, to), ByCurrency: kpi.ByCurrency(ev, from, to),
		Drops: kpi.Drops(ev)}
	rep.ByChannelCurrency = kpi.MixedByCurrency(ev, from, to, rep.ByChannel, kpi.ByChannel)
	rep.ByRegionCurrency = kpi.MixedByCurrency(ev, from, to, rep.ByRegion, kpi.ByRegion)
	if c := a.consents.Load(); c != nil {
		n, err := (*c)(r.Context(), from, to)
		if err != nil {
			return Report{}, fmt.Errorf("count new consents: %w", err)
		}
		addConsents(&rep, n, from, to)
	}
	formats, err := a.formatsOf(r.Context(), from, to)
	if err != nil {
		return Report{}, err
	}
	rep.Formats = formats
	return rep, nil
}

// ReportCSVHeader is the first row of a report's CSV (the sale formats'
// columns last).
var ReportCSVHeader = append([]string{"scope", "orders", "buyers", "gmv_cents", "revenue_cents", "gmv_per_hour_cents", "revenue_per_hour_cents",
	"aov_cents", "unique_viewers", "conversion", "peak_concurrent", "current_concurrent", "avg_watch_seconds", "new_consents",
	"stock", "sold", "sell_through", "sold_out_after_seconds", "currency"}, formatCSVColumns...)

// WriteReportCSV writes rep as CSV: the total row (with the drop's
// sell-through), then one row per channel and per region, by name (a row
// in several currencies followed by its rows per currency,
// channel:NAME:CUR), then the sale formats' rows.
func WriteReportCSV(w interface{ Write([]byte) (int, error) }, rep Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(ReportCSVHeader)
	f64 := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	row := func(scope string, f kpi.Figures, drop *kpi.DropFigures) []string {
		r := []string{scope, strconv.Itoa(f.Orders), strconv.Itoa(f.Buyers), strconv.FormatInt(f.GMVCents, 10), strconv.FormatInt(f.RevenueCents, 10),
			f64(f.GMVPerHourCents), f64(f.RevenuePerHourCents), f64(f.AOVCents), strconv.Itoa(f.UniqueViewers), f64(f.Conversion),
			strconv.Itoa(f.PeakConcurrent), strconv.Itoa(f.CurrentConcurrent), f64(f.AvgWatchSeconds), strconv.Itoa(f.NewConsents)}
		if drop == nil {
			return padCSV(append(r, "", "", "", "", f.Currency))
		}
		return padCSV(append(r, strconv.Itoa(drop.Stock), strconv.Itoa(drop.Sold), f64(drop.SellThrough), f64(drop.SoldOutAfter.Seconds()), f.Currency))
	}
	var d *kpi.DropFigures
	if len(rep.Drops) > 0 {
		d = &rep.Drops[0]
	}
	_ = cw.Write(row("total", rep.Total, d))
	for _, split := range []struct {
		prefix string
		m      map[string]kpi.Figures
		per    map[string]map[string]kpi.Figures
	}{{"channel:", rep.ByChannel, rep.ByChannelCurrency}, {"region:", rep.ByRegion, rep.ByRegionCurrency}, {"currency:", rep.ByCurrency, nil}} {
		for _, k := range slices.Sorted(maps.Keys(split.m)) {
			_ = cw.Write(row(split.prefix+k, split.m[k], nil))
			for _, cur := range slices.Sorted(maps.Keys(split.per[k])) {
				_ = cw.Write(row(split.prefix+k+":"+cur, split.per[k][cur], nil))
			}
		}
	}
	writeFormatsCSV(cw, rep.Formats)
	cw.Flush()
	return cw.Error()
}
