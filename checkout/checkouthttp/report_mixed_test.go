package checkouthttp

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/kpi"
)

// TestReportCSVSplitsMixedRows: a channel whose sales were in two
// currencies is followed by its rows per currency (channel:qr:EUR,
// channel:qr:USD), computed from the sales in each currency alone; a
// channel in one currency is not repeated.
func TestReportCSVSplitsMixedRows(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ev := kpi.Events{Sales: []kpi.Sale{
		{Buyer: "a", Channel: "qr", Region: "eu", Qty: 1, TotalCents: 2200, Currency: "EUR", At: t0.Add(time.Minute)},
		{Buyer: "b", Channel: "qr", Region: "us", Qty: 1, TotalCents: 2900, Currency: "USD", At: t0.Add(2 * time.Minute)},
		{Buyer: "c", Channel: "social", Region: "eu", Qty: 1, TotalCents: 2200, Currency: "EUR", At: t0.Add(3 * time.Minute)},
	}}
	to := t0.Add(time.Hour)
	rep := Report{Drop: "d1", Total: kpi.Compute(ev, t0, to), ByChannel: kpi.ByChannel(ev, t0, to),
		ByRegion: kpi.ByRegion(ev, t0, to), ByCurrency: kpi.ByCurrency(ev, t0, to)}
	rep.ByChannelCurrency = kpi.MixedByCurrency(ev, t0, to, rep.ByChannel, kpi.ByChannel)
	rep.ByRegionCurrency = kpi.MixedByCurrency(ev, t0, to, rep.ByRegion, kpi.ByRegion)
	var buf bytes.Buffer
	if err := WriteReportCSV(&buf, rep); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cur := len(ReportCSVHeader) - len(formatCSVColumns) - 1 // the currency column
	var scopes []string
	got := map[string][]string{}
	for _, r := range rows[1:] {
		scopes = append(scopes, r[0])
		got[r[0]] = r
	}
	want := []string{"total", "channel:qr", "channel:qr:EUR", "channel:qr:USD", "channel:social", "region:eu", "region:us", "currency:EUR", "currency:USD"}
	if len(scopes) < len(want) {
		t.Fatalf("scopes %v, want %v first", scopes, want)
	}
	for i, s := range want {
		if scopes[i] != s {
			t.Fatalf("scopes %v, want %v first", scopes, want)
		}
	}
	for scope, w := range map[string][2]string{ // gmv_cents, currency
		"channel:qr": {"5100", kpi.Mixed}, "channel:qr:EUR": {"2200", "EUR"}, "channel:qr:USD": {"2900", "USD"}, "channel:social": {"2200", "EUR"},
	} {
		if r := got[scope]; r[3] != w[0] || r[cur] != w[1] {
			t.Errorf("%s: gmv %s currency %s, want %s %s", scope, r[3], r[cur], w[0], w[1])
		}
	}
}
