package checkouthttp

import (
	"context"
	"encoding/csv"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/redistest"
)

// The report's "new emails with consent" is the buyer store's count over
// the report's window, in total and per channel and region of the
// sign-in that gave each: consents before the window, sign-ins without
// consent and withdrawn consents do not count; JSON and CSV agree; on
// both buyer stores. By hand (signInAll): ann qr/eu, bob social/us, fay
// direct/eu, gus qr/eu count: 4 in total; qr 2, social 1, direct 1; eu 3,
// us 1.
func TestReportCountsNewConsents(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	for name, bs := range map[string]buyer.Store{"mem": buyer.NewMemStore(nil), "redis": buyer.NewRedisStore(rdb)} {
		t.Run(name, func(t *testing.T) {
			e := start(t, nil)
			e.capi.SetConsents(consentsOf(bs))
			if code, body := do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON); code != 201 {
				t.Fatalf("create: %d %v", code, body)
			}
			now := time.Now().UTC()
			signInAll(t, bs, now)
			want := map[string]int{"total": 4, "channel:qr": 2, "channel:social": 1, "channel:direct": 1, "region:eu": 3, "region:us": 1}
			q := "?from=" + now.Add(-time.Hour).Format(time.RFC3339Nano) + "&to=" + now.Add(time.Minute).Format(time.RFC3339Nano)
			code, rep := do(t, "GET", e.control+"/v1/drops/d1/report"+q, token, nil, "")
			if code != 200 {
				t.Fatalf("report: %d %v", code, rep)
			}
			got := map[string]int{}
			if total, ok := rep["total"].(map[string]any); ok {
				got["total"] = int(total["new_consents"].(float64))
			}
			for split, prefix := range map[string]string{"by_channel": "channel:", "by_region": "region:"} {
				m, _ := rep[split].(map[string]any)
				for k, v := range m {
					f, _ := v.(map[string]any)
					got[prefix+k] = int(f["new_consents"].(float64))
				}
			}
			if !maps.Equal(got, want) {
				t.Fatalf("JSON new consents %v, want %v", got, want)
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
			col := slices.Index(rows[0], "new_consents")
			gotCSV := map[string]int{}
			for _, r := range rows[1:] {
				n, err := strconv.Atoi(r[col])
				if err != nil {
					t.Fatalf("CSV row %v: %v", r, err)
				}
				if !strings.HasPrefix(r[0], "currency:") {
					gotCSV[r[0]] = n
				}
			}
			if col < 0 || rows[1][0] != "total" || !maps.Equal(gotCSV, want) {
				t.Fatalf("CSV new consents %v (header %v), want %v", gotCSV, rows[0], want)
			}
		})
	}
}

// consentsOf is the report's consent counter on the buyer store bs, as
// the node wires it.
func consentsOf(bs buyer.Store) ConsentCounter {
	return func(ctx context.Context, from, to time.Time) (ConsentCounts, error) {
		c, err := bs.Counts(ctx, from, to)
		return ConsentCounts{Total: c.MarketingConsents, ByChannel: c.ConsentsByChannel, ByRegion: c.ConsentsByRegion}, err
	}
}

// signInAll signs in the buyers of the consent tests, an hour's window
// before now: ann (qr, eu) and bob (social, us) consent in it, fay (qr,
// eu) consents in it from a channel-less link; cat signs in without
// consent, dan consented before the window, eve consented in it and
// withdrew; gus consented from qr in eu, withdrew, and consented again
// from social in us (his first consent's origin stays).
func signInAll(t *testing.T, bs buyer.Store, now time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, s := range []struct {
		email, id string
		consent   bool
		from      buyer.Origin
		at        time.Time
	}{
		{"ann@example.com", "bann", true, buyer.Origin{Channel: "qr", Region: "eu"}, now.Add(-10 * time.Minute)},
		{"bob@example.com", "bbob", true, buyer.Origin{Channel: "social", Region: "us"}, now.Add(-5 * time.Minute)},
		{"cat@example.com", "bcat", false, buyer.Origin{Channel: "qr", Region: "eu"}, now.Add(-5 * time.Minute)}, // no consent
		{"dan@example.com", "bdan", true, buyer.Origin{Channel: "qr", Region: "eu"}, now.Add(-3 * time.Hour)},    // before the window
		{"eve@example.com", "beve", true, buyer.Origin{Channel: "social", Region: "us"}, now.Add(-2 * time.Minute)},
		{"fay@example.com", "bfay", true, buyer.Origin{Channel: "Not A Token!", Region: "eu"}, now.Add(-4 * time.Minute)},
		{"gus@example.com", "bgus", true, buyer.Origin{Channel: "qr", Region: "eu"}, now.Add(-30 * time.Minute)},
	} {
		if _, err := bs.SignedInFrom(ctx, s.email, s.id, s.consent, s.from, s.at); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"beve", "bgus"} {
		if _, withdrew, err := bs.WithdrawConsent(ctx, id, now.Add(-time.Minute)); err != nil || !withdrew {
			t.Fatalf("withdraw %s: %v %v", id, withdrew, err)
		}
	}
	r, err := bs.SignedInFrom(ctx, "gus@example.com", "bgus2", true, buyer.Origin{Channel: "social", Region: "us"}, now.Add(-30*time.Second))
	if err != nil || r.Origin != (buyer.Origin{Channel: "qr", Region: "eu"}) {
		t.Fatalf("gus again: %+v %v, want his first consent's origin", r, err)
	}
}
