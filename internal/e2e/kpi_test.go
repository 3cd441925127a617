package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/internal/chrometest"
)

type reportFigures struct {
	Orders            int     `json:"orders"`
	Buyers            int     `json:"buyers"`
	GMVCents          int64   `json:"gmv_cents"`
	UniqueViewers     int     `json:"unique_viewers"`
	Conversion        float64 `json:"conversion"`
	PeakConcurrent    int     `json:"peak_concurrent"`
	CurrentConcurrent int     `json:"current_concurrent"`
	AvgWatchSeconds   float64 `json:"avg_watch_seconds"`
}

type reportBody struct {
	Total struct {
		reportFigures
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"total"`
	ByChannel  map[string]reportFigures `json:"by_channel"`
	ByRegion   map[string]reportFigures `json:"by_region"`
	ByCurrency map[string]reportFigures `json:"by_currency"`
}

// TestReportAttributionByChannel: real WHEP viewers come to the demo's
// edge from ?ch=qr and ?ch=social, some of them buy, and the origin's
// event report splits viewers, buyers, conversion and GMV by channel
// exactly; its CSV parses and says what its JSON says.
func TestReportAttributionByChannel(t *testing.T) {
	addrs, _ := startDemo(t)
	edgeURL, ctl := "http://"+addrs.EdgeHTTP, "http://"+addrs.OriginHTTP
	b := signedIn(t)
	watch := func(ch, who string) *viewer {
		u := edgeURL + "/whep/demo?ch=" + ch + "&viewer=" + url.QueryEscape(who)
		var v *viewer
		var err error
		waitFor(t, 20*time.Second, "a viewer from "+ch, func() bool {
			v, err = dialViewer(t, u)
			return err == nil
		})
		return v
	}
	// qr: ann (on two devices: one viewer), bob, and a device that only
	// watches; social: cat, and a device that only watches.
	watch("qr", b.ID("ann"))
	watch("qr", b.ID("ann"))
	bob := watch("qr", b.ID("bob"))
	watch("qr", "d-qr-watcher-1")
	watch("social", b.ID("cat"))
	watch("social", "d-social-watcher-1")
	// and a viewer page in Chromium from ?ch=social: the page says its
	// channel and its device on the WHEP offer.
	br := chrometest.Start(t)
	ctx := t.Context()
	page, err := br.Open(ctx, edgeURL+"/watch/demo?ch=social")
	if err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `document.querySelector('[data-testid="status"]').textContent.trim() === "playing"`, 30*time.Second); err != nil {
		t.Fatalf("the Chromium viewer does not play: %v", err)
	}

	call(t, "POST", ctl+"/v1/drops", demoToken, `{"id":"kpi1","stream":"demo","skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":10,"max_per_buyer":2}]}`, 201)
	call(t, "POST", ctl+"/v1/drops/kpi1/open", demoToken, "", 200)
	buy := edgeURL + "/v1/drops/kpi1/orders"
	callKey(t, buy, "a1", `{"sku":"tee","qty":2,"buyer":"ann","channel":"qr"}`, 201, "ann")
	callKey(t, buy, "b1", `{"sku":"tee","qty":1,"buyer":"bob","channel":"qr"}`, 201, "bob")
	callKey(t, buy, "c1", `{"sku":"tee","qty":1,"buyer":"cat","channel":"social"}`, 201, "cat")
	// Sale formats: a lot with ann's opening bid, and cat's wallet top-up.
	call(t, "POST", ctl+"/v1/lots", demoToken, `{"id":"kpilot","title":"Vase","stream":"demo","currency":"EUR","start_cents":1000,"duration_ms":600000}`, 201)
	call(t, "POST", ctl+"/v1/lots/kpilot/start", demoToken, "", 200)
	callKey(t, edgeURL+"/v1/lots/kpilot/bids", "kb1", `{"amount_cents":1000}`, 201, "ann")
	// A wallet is for email buyers: cat tops up signed in by email.
	topup, err := http.NewRequest("POST", edgeURL+"/v1/me/wallet/topups", strings.NewReader(`{"amount_cents":5000,"currency":"EUR"}`))
	if err != nil {
		t.Fatal(err)
	}
	topup.Header.Set("Content-Type", "application/json")
	topup.Header.Set("Idempotency-Key", "kt1")
	topup.Header.Set("Authorization", signedIn(t).EmailBearer("cat"))
	do(t, topup, 201)

	report := func(query string) reportBody {
		var r reportBody
		if err := json.Unmarshal([]byte(call(t, "GET", ctl+"/v1/drops/kpi1/report"+query, demoToken, "", 200)), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	var rep reportBody
	waitFor(t, 20*time.Second, "the report to count seven sessions and three orders", func() bool {
		rep = report("")
		return rep.Total.CurrentConcurrent == 7 && rep.Total.Orders == 3
	})
	want := map[string]reportFigures{
		"qr":     {Orders: 2, Buyers: 2, GMVCents: 7500, UniqueViewers: 3, Conversion: 2.0 / 3},
		"social": {Orders: 1, Buyers: 1, GMVCents: 2500, UniqueViewers: 3, Conversion: 1.0 / 3},
	}
	check := func(what string, got, want reportFigures) {
		t.Helper()
		if got.Orders != want.Orders || got.Buyers != want.Buyers || got.GMVCents != want.GMVCents ||
			got.UniqueViewers != want.UniqueViewers || math.Abs(got.Conversion-want.Conversion) > 1e-12 {
			t.Errorf("%s: %+v, want %+v", what, got, want)
		}
	}
	for ch, w := range want {
		check("channel "+ch, rep.ByChannel[ch], w)
	}
	check("total", rep.Total.reportFigures, reportFigures{Orders: 3, Buyers: 3, GMVCents: 10000, UniqueViewers: 6, Conversion: 0.5})
	if len(rep.ByChannel) != 2 {
		t.Errorf("channels %v, want qr and social", rep.ByChannel)
	}

	// bob leaves: one session less now, the peak stays.
	if err := bob.c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "bob's leave to reach the report", func() bool {
		rep = report("")
		return rep.Total.CurrentConcurrent == 6
	})
	if rep.Total.PeakConcurrent != 7 || rep.ByChannel["qr"].CurrentConcurrent != 3 || rep.ByChannel["qr"].UniqueViewers != 3 {
		t.Errorf("after bob left: total %+v, qr %+v", rep.Total.reportFigures, rep.ByChannel["qr"])
	}
	if rep.Total.AvgWatchSeconds <= 0 {
		t.Errorf("average watch time %v", rep.Total.AvgWatchSeconds)
	}

	// The seller's live screen (the report page) shows the channel's
	// figures the report has.
	rp := openReport(t, br, ctl, "kpi1")
	live := `[data-testid="kpi-live"] [data-scope="channel:social"] [data-kpi="%s"] dd`
	for kpi, want := range map[string]string{"viewers": "3", "buyers": "1", "conversion": "33.3 %", "now": "3", "consents": "0"} {
		if err := rp.WaitFor(ctx, fmt.Sprintf(`(e => e && e.textContent === %s)(document.querySelector(%s))`, jsString(want), jsString(fmt.Sprintf(live, kpi))), 15*time.Second); err != nil {
			got, _ := rp.Text(ctx, fmt.Sprintf(live, kpi))
			t.Errorf("live screen: social %s shows %q, want %s", kpi, got, want)
		}
	}
	// Money carries its currency, and the per-currency table has the sales.
	for sel, want := range map[string]string{
		`[data-testid="report-total"] [data-kpi="GMV"] dd`:  "100.00 EUR",
		`[data-testid="report-currencies"] tr:nth-child(2)`: "EUR33100.00", // currency, orders, buyers, GMV
	} {
		if err := rp.WaitFor(ctx, fmt.Sprintf(`(e => e && e.textContent.startsWith(%s))(document.querySelector(%s))`, jsString(want), jsString(sel)), 15*time.Second); err != nil {
			got, _ := rp.Text(ctx, sel)
			t.Errorf("report page %s shows %q, want it to start %q", sel, got, want)
		}
	}

	// The Sale formats section shows the lot and the top-up.
	for sel, want := range map[string]string{
		`[data-testid="report-formats-auctions"] [data-kpi="lots run"] dd`: "1",
		`[data-testid="report-formats-auctions"] [data-kpi="live"] dd`:     "1",
		`[data-testid="report-formats-auctions"] [data-kpi="bids"] dd`:     "1",
		`[data-testid="report-formats-lots"] tr:nth-child(2) td`:           "Vase",
		`[data-testid="report-formats-wallet"] tr:nth-child(2)`:            "EUR150.00", // currency, top-ups, topped up
		`[data-testid="report-formats-pickup"] [data-kpi="pending"] dd`:    "0",
	} {
		if err := rp.WaitFor(ctx, fmt.Sprintf(`(e => e && e.checkVisibility() && e.textContent.startsWith(%s))(document.querySelector(%s))`, jsString(want), jsString(sel)), 15*time.Second); err != nil {
			got, _ := rp.Text(ctx, sel)
			t.Errorf("report page %s shows %q, want it to start %q", sel, got, want)
		}
	}

	// The CSV of the same window says what the JSON says.
	window := "?from=" + url.QueryEscape(rep.Total.From) + "&to=" + url.QueryEscape(rep.Total.To)
	rep = report(window)
	rows, err := csv.NewReader(strings.NewReader(call(t, "GET", ctl+"/v1/drops/kpi1/report"+window+"&format=csv", demoToken, "", 200))).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v", err)
	}
	if strings.Join(rows[0], ",") != strings.Join(checkouthttp.ReportCSVHeader, ",") {
		t.Fatalf("CSV header %v", rows[0])
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	scopes := map[string]reportFigures{"total": rep.Total.reportFigures}
	for ch, f := range rep.ByChannel {
		scopes["channel:"+ch] = f
	}
	for re, f := range rep.ByRegion {
		scopes["region:"+re] = f
	}
	for cur, f := range rep.ByCurrency {
		scopes["currency:"+cur] = f
	}
	var formatRows [][]string // the sale formats' rows, checked below
	for i := 1; i < len(rows); i++ {
		if sc := rows[i][0]; sc == "auction" || strings.HasPrefix(sc, "auction:") || strings.HasPrefix(sc, "wallet:") || sc == "giveaway" || sc == "pickup" {
			formatRows = append(formatRows, rows[i])
			rows = append(rows[:i], rows[i+1:]...)
			i--
		}
	}
	fr := map[string]string{}
	for _, r := range formatRows {
		fr[r[0]] = r[col["runs"]] + "," + r[col["bids"]] + "," + r[col["topup_cents"]]
	}
	if fr["auction"] != "1,1," || fr["auction:lot:kpilot"] != "1,1," || fr["wallet:EUR"] != ",,5000" || len(fr) != 3 {
		t.Errorf("CSV format rows (runs, bids, topup_cents) %v, want auction 1 run 1 bid, the lot, wallet:EUR 5000", fr)
	}
	if len(rows)-1 != len(scopes) {
		t.Fatalf("CSV has %d rows, the JSON %d scopes", len(rows)-1, len(scopes))
	}
	for _, r := range rows[1:] {
		f, ok := scopes[r[0]]
		if !ok {
			t.Fatalf("CSV scope %q not in the JSON", r[0])
		}
		num := func(name string) float64 {
			v, err := strconv.ParseFloat(r[col[name]], 64)
			if err != nil {
				t.Fatalf("CSV %s %s: %v", r[0], name, err)
			}
			return v
		}
		if int(num("orders")) != f.Orders || int(num("buyers")) != f.Buyers || int64(num("gmv_cents")) != f.GMVCents ||
			int(num("unique_viewers")) != f.UniqueViewers || num("conversion") != f.Conversion ||
			int(num("peak_concurrent")) != f.PeakConcurrent || int(num("current_concurrent")) != f.CurrentConcurrent ||
			num("avg_watch_seconds") != f.AvgWatchSeconds {
			t.Errorf("CSV row %v, JSON %+v", r, f)
		}
	}
}
