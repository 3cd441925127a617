package checkouthttp

import (
	"context"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/livedrop/livedrop/internal/kpi"
)

// The report's "Sale formats" section: the auctions', giveaways', wallet's
// and pickup's figures over the report's window (internal/kpi), in the
// JSON's "formats" and as CSV rows of their own scopes.

// FormatSource gives the sale formats' figures over [from, to) (a
// formats.Reader on the origin's stores).
type FormatSource interface {
	Formats(ctx context.Context, from, to time.Time) (kpi.FormatFigures, error)
}

// SetFormats gives the report its "Sale formats" section; it may be
// called while the API serves. Without it the report has no "formats".
func (a *ControlAPI) SetFormats(f FormatSource) { a.formats.Store(&f) }

// formatsOf reads the section over [from, to) (nil without a source).
func (a *ControlAPI) formatsOf(ctx context.Context, from, to time.Time) (*kpi.FormatFigures, error) {
	src := a.formats.Load()
	if src == nil {
		return nil, nil
	}
	f, err := (*src).Formats(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("read the sale formats: %w", err)
	}
	return &f, nil
}

// formatCSVColumns follow the sales columns in the report's CSV; the
// format rows fill them (and orders and currency), the sales rows leave
// them empty.
var formatCSVColumns = []string{"runs", "won", "unsold", "live", "bids", "bidders", "bidding_seconds", "bids_per_second",
	"start_cents", "final_cents", "uplift", "entries", "unique_entrants", "drawn", "winners",
	"topups", "topup_cents", "spends", "spend_cents", "refunds", "refund_cents", "liability_cents",
	"collected", "pending", "conflicts"}

// padCSV fills a row out to the header's width.
func padCSV(r []string) []string {
	for len(r) < len(ReportCSVHeader) {
		r = append(r, "")
	}
	return r
}

// writeFormatsCSV writes the section's rows: "auction" (and
// "auction:currency:XXX", "auction:lot:ID"), "giveaway", "wallet:XXX" and
// "pickup". A format with nothing in the window has no row.
func writeFormatsCSV(cw *csv.Writer, f *kpi.FormatFigures) {
	if f == nil {
		return
	}
	col := make(map[string]int, len(ReportCSVHeader))
	for i, h := range ReportCSVHeader {
		col[h] = i
	}
	i := strconv.Itoa
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	f64 := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	write := func(scope string, vals map[string]string) {
		r := padCSV([]string{scope})
		for k, v := range vals {
			r[col[k]] = v
		}
		_ = cw.Write(r)
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	if a := f.Auctions; a.LotsRun > 0 {
		write("auction", map[string]string{"runs": i(a.LotsRun), "won": i(a.Won), "unsold": i(a.Unsold), "live": i(a.Live),
			"bids": i(a.Bids), "bidders": i(a.Bidders), "bidding_seconds": f64(a.BiddingSeconds), "bids_per_second": f64(a.BidsPerSecond),
			"start_cents": i64(a.StartCents), "final_cents": i64(a.FinalCents), "uplift": f64(a.Uplift), "currency": a.Currency})
		curs := make([]string, 0, len(a.ByCurrency))
		for c := range a.ByCurrency {
			curs = append(curs, c)
		}
		sort.Strings(curs)
		for _, c := range curs {
			m := a.ByCurrency[c]
			write("auction:currency:"+c, map[string]string{"won": i(m.Won), "start_cents": i64(m.StartCents),
				"final_cents": i64(m.FinalCents), "uplift": f64(m.Uplift), "currency": c})
		}
		for _, l := range a.Lots {
			write("auction:lot:"+l.ID, map[string]string{"runs": "1", "won": flag(l.State == "won"), "unsold": flag(l.State == "unsold"),
				"live": flag(l.State == "live"), "bids": i(l.Bids), "bidders": i(l.Bidders), "bidding_seconds": f64(l.BiddingSeconds),
				"bids_per_second": f64(l.BidsPerSecond), "start_cents": i64(l.StartCents), "final_cents": i64(l.FinalCents),
				"uplift": f64(l.Uplift), "currency": l.Currency})
		}
	}
	if g := f.Giveaways; g.Run > 0 {
		write("giveaway", map[string]string{"runs": i(g.Run), "entries": i(g.Entries), "unique_entrants": i(g.UniqueEntrants),
			"drawn": i(g.Drawn), "winners": i(g.Winners)})
	}
	curs := make([]string, 0, len(f.Wallet))
	for c := range f.Wallet {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	for _, c := range curs {
		w := f.Wallet[c]
		write("wallet:"+c, map[string]string{"topups": i(w.TopUps), "topup_cents": i64(w.TopUpCents), "spends": i(w.Spends),
			"spend_cents": i64(w.SpendCents), "refunds": i(w.Refunds), "refund_cents": i64(w.RefundCents),
			"liability_cents": i64(w.LiabilityCents), "currency": c})
	}
	if p := f.Pickup; p.Orders > 0 {
		write("pickup", map[string]string{"orders": i(p.Orders), "collected": i(p.Collected), "pending": i(p.Pending),
			"conflicts": i(p.Conflicts)})
	}
}
