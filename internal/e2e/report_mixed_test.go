package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestReportPageSplitsMixedCurrencies: a channel that sold in two
// currencies shows "mixed" money on its row in the report page, followed
// by one sub-row per currency with that currency's sales; a channel in one
// currency has no sub-rows.
func TestReportPageSplitsMixedCurrencies(t *testing.T) {
	addrs, _ := startDemo(t)
	edgeURL, ctl := "http://"+addrs.EdgeHTTP, "http://"+addrs.OriginHTTP
	call(t, "POST", ctl+"/v1/drops", demoToken, `{"id":"mix1","stream":"demo","skus":[`+
		`{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":10,"max_per_buyer":2},`+
		`{"sku":"cap","name":"Cap","price_cents":1900,"currency":"USD","stock":10,"max_per_buyer":2}]}`, 201)
	call(t, "POST", ctl+"/v1/drops/mix1/open", demoToken, "", 200)
	waitReady(t, edgeURL)
	buy := edgeURL + "/v1/drops/mix1/orders"
	callKey(t, buy, "m1", `{"sku":"tee","qty":2,"buyer":"ann","channel":"qr"}`, 201, "ann")
	callKey(t, buy, "m2", `{"sku":"cap","qty":1,"buyer":"bob","channel":"qr"}`, 201, "bob")
	callKey(t, buy, "m3", `{"sku":"tee","qty":1,"buyer":"cat","channel":"social"}`, 201, "cat")

	br := chrometest.Start(t)
	ctx := t.Context()
	rp := openReport(t, br, ctl, "mix1")
	// The channels table: a header, then qr, its EUR and USD rows, social.
	rows := `[...document.querySelectorAll('[data-testid="report-channels"] tr')].slice(1).map(r => [...r.children].slice(0, 4).map(c => c.textContent).join('|'))`
	want := []string{
		"qr|2|2|mixed",
		"qr · EUR|1|1|50.00 EUR",
		"qr · USD|1|1|19.00 USD",
		"social|1|1|25.00 EUR",
	}
	cond := fmt.Sprintf(`JSON.stringify(%s) === %s`, rows, jsString(string(mustJSON(t, want))))
	if err := rp.WaitFor(ctx, cond, 20*time.Second); err != nil {
		var got []string
		_ = rp.Eval(ctx, rows, &got)
		t.Fatalf("channels table rows %q, want %q", got, want)
	}
	// The total is mixed too; the currency table has each currency's sales.
	for sel, want := range map[string]string{
		`[data-testid="report-total"] [data-kpi="GMV"] dd`:  "mixed",
		`[data-testid="report-currencies"] tr:nth-child(2)`: "EUR2275.00",
		`[data-testid="report-currencies"] tr:nth-child(3)`: "USD1119.00",
	} {
		if err := rp.WaitFor(ctx, fmt.Sprintf(`(e => e && e.textContent.startsWith(%s))(document.querySelector(%s))`, jsString(want), jsString(sel)), 15*time.Second); err != nil {
			got, _ := rp.Text(ctx, sel)
			t.Errorf("report page %s shows %q, want it to start %q", sel, got, want)
		}
	}
}

// openReport opens drop's report page on the origin at ctl, signed in as
// the seller (the console keeps the control token for the tab).
func openReport(t *testing.T, br *chrometest.Browser, ctl, drop string) *chrometest.Page {
	t.Helper()
	ctx := t.Context()
	rp, err := br.Open(ctx, ctl+"/console")
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Eval(ctx, `sessionStorage.setItem('livedrop.token', `+jsString(demoToken)+`)`, nil); err != nil {
		t.Fatal(err)
	}
	if err := rp.Navigate(ctx, ctl+"/report/"+drop); err != nil {
		t.Fatal(err)
	}
	return rp
}

// waitReady waits until the node at base says ready (/readyz 200): an
// edge answers orders 503 while it starts.
func waitReady(t *testing.T, base string) {
	t.Helper()
	waitFor(t, 20*time.Second, base+" ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
