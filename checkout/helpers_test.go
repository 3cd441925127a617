package checkout

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/redistest"
)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("LIVEDROP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// stores returns a Redis store on a fresh redis-server and an embedded one.
func stores(t *testing.T) map[string]Store {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	rs, err := OpenRedisStore(context.Background(), srv.URL(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	ms, err := OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return map[string]Store{"redis": rs, "embedded": ms}
}

func testDrop(id string, stock, maxPer int) Drop {
	return Drop{ID: id, Stream: "cam1", SKUs: []SKU{{SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR", Stock: stock, MaxPerBuyer: maxPer}}}
}

func mustTotals(t testing.TB, s Store, drop string) SKUTotals {
	t.Helper()
	tot, err := s.Totals(context.Background(), drop)
	if err != nil {
		t.Fatalf("totals: %v", err)
	}
	return tot.SKUs[0]
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testConfig() Config {
	c := Defaults()
	c.SyncInterval = 20 * time.Millisecond
	c.LeaseTTL = 3 * time.Second
	c.ReapInterval = 50 * time.Millisecond
	c.RateLimitPerBuyer = 0
	return c
}

// perBuyer is an order to record under a per-buyer limit of max units.
func perBuyer(o Order, max int) ShipItem {
	key := LimitKey(KindBuyer, o.Buyer)
	o.Limits = []string{key}
	return ShipItem{Order: o, Limits: []Limit{{Key: key, Max: max}}, Hold: time.Minute}
}
