package checkouthttp

import (
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer"
)

// The report's "new emails with consent" is the buyer store's count over
// the report's window: consents before the window, sign-ins without
// consent and withdrawn consents do not count; JSON and CSV agree.
func TestReportCountsNewConsents(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	bs := buyer.NewMemStore(nil)
	e.capi.SetConsents(func(ctx context.Context, from, to time.Time) (int, error) {
		c, err := bs.Counts(ctx, from, to)
		return c.MarketingConsents, err
	})
	if code, body := do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON); code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	now := time.Now().UTC()
	for _, s := range []struct {
		email, id string
		consent   bool
		at        time.Time
	}{
		{"ann@example.com", "bann", true, now.Add(-10 * time.Minute)},
		{"bob@example.com", "bbob", true, now.Add(-5 * time.Minute)},
		{"cat@example.com", "bcat", false, now.Add(-5 * time.Minute)}, // no consent
		{"dan@example.com", "bdan", true, now.Add(-3 * time.Hour)},    // before the window
		{"eve@example.com", "beve", true, now.Add(-2 * time.Minute)},  // withdrawn below
	} {
		if _, err := bs.SignedIn(ctx, s.email, s.id, s.consent, s.at); err != nil {
			t.Fatal(err)
		}
	}
	if _, withdrew, err := bs.WithdrawConsent(ctx, "beve", now.Add(-time.Minute)); err != nil || !withdrew {
		t.Fatalf("withdraw: %v %v", withdrew, err)
	}
	q := "?from=" + now.Add(-time.Hour).Format(time.RFC3339Nano) + "&to=" + now.Add(time.Minute).Format(time.RFC3339Nano)
	code, rep := do(t, "GET", e.control+"/v1/drops/d1/report"+q, token, nil, "")
	total, _ := rep["total"].(map[string]any)
	if code != 200 || total["new_consents"] != 2.0 {
		t.Fatalf("report: %d new_consents %v, want 2 (ann, bob)", code, total["new_consents"])
	}
	req, _ := http.NewRequest("GET", e.control+"/v1/drops/d1/report"+q+"&format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("CSV: %v %v", rows, err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "new_consents" {
			col = i
		}
	}
	if col < 0 || rows[1][0] != "total" || rows[1][col] != strconv.Itoa(2) {
		t.Fatalf("CSV total row %v (header %v), want new_consents 2", rows[1], rows[0])
	}
}
