package checkouthttp

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/internal/guard"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestControlTokenBruteForceIsLockedOut(t *testing.T) {
	cfg := guard.Defaults()
	cfg.MaxFailures, cfg.Lockout = 5, 30*time.Second
	logs := &syncBuf{}
	m, err := guard.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g, err := guard.New(guard.Params{Config: cfg, Now: clk.now, Logger: slog.New(slog.NewTextHandler(logs, nil)), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	e := startGuarded(t, nil, g)
	codes := map[int]int{}
	for i := 0; i < 200; i++ {
		req, _ := http.NewRequest("GET", e.control+"/v1/drops/d1", nil)
		req.Header.Set("Authorization", fmt.Sprintf("Bearer guess-%04d-0123456789", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
		if i >= 5 && (resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30") {
			t.Fatalf("guess %d: %d Retry-After %q, want 429 after 30 s", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if codes[401] != 5 || codes[429] != 195 {
		t.Fatalf("answers %v, want 5×401 then 195×429", codes)
	}
	// The right token during the lockout is not even compared.
	if code, body := do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON); code != 429 || body["error"] == nil {
		t.Fatalf("right token while locked out: %d %v", code, body)
	}
	if n := testutil.ToFloat64(m.Failures.WithLabelValues("control", "wrong_token")); n != 5 {
		t.Fatalf("wrong_token = %v, want 5", n)
	}
	if n := testutil.ToFloat64(m.Failures.WithLabelValues("control", "locked_out")); n != 196 {
		t.Fatalf("locked_out = %v, want 196", n)
	}
	if n := testutil.ToFloat64(m.Lockouts.WithLabelValues("control")); n != 1 {
		t.Fatalf("lockouts = %v, want 1", n)
	}
	if lines := strings.Count(logs.String(), "\n"); lines > 3 {
		t.Fatalf("%d log lines for 201 refused requests:\n%s", lines, logs)
	}
	if strings.Contains(logs.String(), "guess-") || strings.Contains(logs.String(), token) {
		t.Fatalf("a token was logged:\n%s", logs)
	}
	clk.add(30 * time.Second)
	if code, body := do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON); code != 201 {
		t.Fatalf("right token after the lockout: %d %v", code, body)
	}
	// A request without a token costs nothing.
	for i := 0; i < 20; i++ {
		if code, _ := do(t, "GET", e.control+"/v1/drops/d1", "", nil, ""); code != 401 {
			t.Fatalf("no token: %d, want 401", code)
		}
	}
}
