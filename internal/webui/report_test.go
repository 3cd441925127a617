package webui

import (
	"net/http"
	"strings"
	"testing"
)

// TestReportPage: GET /report/{drop} on the console's mux is the report
// page of that drop, with its script, its charts' and tables' places and
// the downloads; a bad drop name is 404.
func TestReportPage(t *testing.T) {
	srv := newConsoleServer(t)
	res, body := get(t, srv.URL+"/report/d1", nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("status %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	for _, want := range []string{`data-drop="d1"`, "/console/static/report.js?v=", `data-testid="report-csv"`, `data-testid="report-json"`,
		`data-testid="chart-channel-gmv"`, `data-testid="report-channels"`, `data-testid="report-regions"`, `data-testid="report-drops"`,
		"/console/static/kpilive.js?v=", `data-testid="kpi-live"`, "/console/static/formatsreport.js?v="} {
		if !strings.Contains(body, want) {
			t.Errorf("report page lacks %s", want)
		}
	}
	if res, _ := get(t, srv.URL+"/report/a%20b", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("bad drop name: %d, want 404", res.StatusCode)
	}
}

// TestSignPage: GET /sign/{drop}?ch= is the channel's printable sign, whose
// QR image is that drop's and channel's sign.png; a made-up channel is 400.
func TestSignPage(t *testing.T) {
	srv := newConsoleServer(t)
	res, body := get(t, srv.URL+"/sign/d1?ch=qr", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	for _, want := range []string{`src="/v1/drops/d1/sign.png?ch=qr"`, "/console/static/sign.js?v=", "/console/static/sign.css?v=",
		`data-testid="sign-stream"`, `data-testid="sign-next"`} {
		if !strings.Contains(body, want) {
			t.Errorf("sign page lacks %s", want)
		}
	}
	for _, q := range []string{"/sign/d1", "/sign/d1?ch=Bad%22Label", "/sign/d1?ch=" + strings.Repeat("a", 33)} {
		if res, _ := get(t, srv.URL+q, nil); res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, res.StatusCode)
		}
	}
}
