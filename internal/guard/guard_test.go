package guard

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

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

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
func (l *lockedBuf) lines() []string {
	s := strings.TrimSpace(l.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func newTestGuard(t *testing.T, cfg Config) (*Guard, *clock, *lockedBuf, *Metrics) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	buf := &lockedBuf{}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Params{Config: cfg, Now: c.now, Logger: slog.New(slog.NewTextHandler(buf, nil)), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return g, c, buf, m
}

func testConfig() Config {
	c := Defaults()
	c.MaxFailures, c.AccountMaxFailures = 3, 100
	c.Window, c.Lockout, c.MaxLockout = time.Minute, 10*time.Second, 35*time.Second
	return c
}

func TestLockoutAfterBudgetAndDoubling(t *testing.T) {
	g, c, _, m := newTestGuard(t, testConfig())
	for i := 0; i < 2; i++ {
		if v := g.Fail("rtsp_publish", "wrong_credentials", "10.0.0.1", "publish:seller"); v.Locked {
			t.Fatalf("locked after %d failures, budget is 3", i+1)
		}
	}
	v := g.Fail("rtsp_publish", "wrong_credentials", "10.0.0.1", "publish:seller")
	if !v.Locked || v.Scope != "ip" || v.RetryAfter != 10*time.Second {
		t.Fatalf("third failure: %+v, want ip locked for 10s", v)
	}
	if got := g.Check("10.0.0.2", "publish:seller"); got.Locked {
		t.Fatalf("another address is locked: %+v", got)
	}
	c.add(9 * time.Second)
	if got := g.Check("10.0.0.1", "publish:seller"); !got.Locked || got.RetryAfter != time.Second {
		t.Fatalf("after 9s: %+v, want locked 1s more", got)
	}
	c.add(time.Second)
	if got := g.Check("10.0.0.1", "publish:seller"); got.Locked {
		t.Fatalf("after 10s still locked: %+v", got)
	}
	// Next lockout in a row doubles: 20s, then 35s (the cap), then 35s.
	for _, want := range []time.Duration{20 * time.Second, 35 * time.Second, 35 * time.Second} {
		var v Verdict
		for i := 0; i < 3; i++ {
			v = g.Fail("rtsp_publish", "wrong_credentials", "10.0.0.1", "publish:seller")
		}
		if !v.Locked || v.RetryAfter != want {
			t.Fatalf("lockout %+v, want %v", v, want)
		}
		c.add(want)
	}
	if n := testutil.ToFloat64(m.Lockouts.WithLabelValues("rtsp_publish")); n != 4 {
		t.Fatalf("lockouts_total = %v, want 4", n)
	}
	if n := testutil.ToFloat64(m.Failures.WithLabelValues("rtsp_publish", "wrong_credentials")); n != 12 {
		t.Fatalf("failures_total = %v, want 12", n)
	}
	// Quiet for a whole longest lockout: the next lockout is the first again.
	c.add(35 * time.Second)
	var last Verdict
	for i := 0; i < 3; i++ {
		last = g.Fail("rtsp_publish", "wrong_credentials", "10.0.0.1", "publish:seller")
	}
	if last.RetryAfter != 10*time.Second {
		t.Fatalf("after a quiet spell: %+v, want 10s", last)
	}
}

func TestFailuresOutsideTheWindowAreForgotten(t *testing.T) {
	g, c, _, _ := newTestGuard(t, testConfig())
	for i := 0; i < 10; i++ {
		if v := g.Fail("control", "wrong_token", "10.0.0.1", "control"); v.Locked {
			t.Fatalf("locked at failure %d though each pair is a window apart", i)
		}
		if i%2 == 1 {
			c.add(time.Minute)
		}
	}
}

func TestRefusedDoesNotLengthenLockout(t *testing.T) {
	g, c, _, m := newTestGuard(t, testConfig())
	for i := 0; i < 3; i++ {
		g.Fail("control", "wrong_token", "10.0.0.1", "control")
	}
	for i := 0; i < 50; i++ {
		v := g.Check("10.0.0.1", "control")
		if !v.Locked {
			t.Fatal("not locked")
		}
		g.Refused("control", "10.0.0.1", "control", v)
		// A failure reported during the lockout (a race with Check) does not count.
		g.Fail("control", "wrong_token", "10.0.0.1", "control")
	}
	c.add(10 * time.Second)
	if v := g.Check("10.0.0.1", "control"); v.Locked {
		t.Fatalf("still locked after the first lockout's 10s: %+v", v)
	}
	if n := testutil.ToFloat64(m.Failures.WithLabelValues("control", "locked_out")); n != 50 {
		t.Fatalf("locked_out failures = %v, want 50", n)
	}
}

func TestAccountLockoutSparesTrustedAddress(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFailures, cfg.AccountMaxFailures = 100, 5
	g, _, _, _ := newTestGuard(t, cfg)
	g.Succeed("10.0.0.9", "publish:seller") // the seller's camera
	var v Verdict
	for i := 0; i < 5; i++ {
		v = g.Fail("rtsp_publish", "wrong_credentials", fmt.Sprintf("10.1.0.%d", i), "publish:seller")
	}
	if !v.Locked || v.Scope != "account" {
		t.Fatalf("after 5 failures from 5 addresses: %+v, want the account locked", v)
	}
	if v := g.Check("10.2.0.1", "publish:seller"); !v.Locked {
		t.Fatal("a fresh address may try the locked account")
	}
	if v := g.Check("10.0.0.9", "publish:seller"); v.Locked {
		t.Fatalf("the address that succeeded lately is locked out: %+v", v)
	}
	if v := g.Check("10.2.0.1", "read:viewer"); v.Locked {
		t.Fatal("another account is locked")
	}
}

func TestSuccessForgivesFailures(t *testing.T) {
	g, _, _, _ := newTestGuard(t, testConfig())
	for i := 0; i < 10; i++ {
		if v := g.Fail("rtsp_read", "wrong_credentials", "10.0.0.1", "read:viewer"); v.Locked {
			t.Fatalf("locked at %d despite successes in between", i)
		}
		if i%2 == 1 {
			g.Succeed("10.0.0.1", "read:viewer")
		}
	}
}

func TestMemoryIsBoundedAndLockedEntriesOutliveIdleOnes(t *testing.T) {
	cfg := testConfig()
	cfg.MaxEntries = 100
	g, _, _, _ := newTestGuard(t, cfg)
	for i := 0; i < 3; i++ {
		g.Fail("control", "wrong_token", "192.0.2.1", "control")
	}
	for i := 0; i < 1000; i++ {
		g.Fail("control", "wrong_token", fmt.Sprintf("10.%d.%d.1", i/250, i%250), "control")
	}
	if n := g.ips.len(); n != 100 {
		t.Fatalf("%d addresses remembered, want the cap of 100", n)
	}
	if v := g.Check("192.0.2.1", "control"); !v.Locked {
		t.Fatal("the locked address was evicted while idle ones remained")
	}
	if g.ips.peek("10.3.249.1") == nil {
		t.Fatal("the newest address was not kept")
	}
}

func TestLogSummary(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFailures, cfg.AccountMaxFailures = 1000, 1000
	g, c, buf, _ := newTestGuard(t, cfg)
	for i := 0; i < 500; i++ {
		g.Fail("rtsp_publish", "wrong_credentials", "10.0.0.1", "publish:seller")
	}
	lines := buf.lines()
	if len(lines) != 1 || !strings.Contains(lines[0], "auth failure") {
		t.Fatalf("500 failures in one window logged:\n%s", buf)
	}
	c.add(cfg.LogWindow)
	g.Fail("rtsp_publish", "wrong_credentials", "10.0.0.2", "publish:seller")
	lines = buf.lines()
	if len(lines) != 3 {
		t.Fatalf("want the first line, one summary and the next window's first line, got:\n%s", buf)
	}
	if !strings.Contains(lines[1], "more auth failures") || !strings.Contains(lines[1], "count=499") ||
		!strings.Contains(lines[1], "reason_wrong_credentials=499") {
		t.Fatalf("summary line: %s", lines[1])
	}
	if !strings.Contains(lines[2], "remote=10.0.0.2") {
		t.Fatalf("new window's first line: %s", lines[2])
	}
	g.Fail("rtsp_publish", "wrong_credentials", "10.0.0.2", "publish:seller")
	g.Flush()
	if lines = buf.lines(); len(lines) != 4 || !strings.Contains(lines[3], "count=1") {
		t.Fatalf("flush: %s", buf)
	}
}

func TestLockoutsAreLoggedOncePerWindow(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFailures = 1
	g, _, buf, _ := newTestGuard(t, cfg)
	for i := 0; i < 200; i++ {
		g.Fail("control", "wrong_token", fmt.Sprintf("10.0.%d.%d", i/200, i%200), "control")
	}
	var lockouts int
	for _, l := range buf.lines() {
		if strings.Contains(l, "auth lockout") {
			lockouts++
		}
	}
	if lockouts != 1 || len(buf.lines()) != 2 {
		t.Fatalf("200 lockouts logged as:\n%s", buf)
	}
}

func TestKeys(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1:5000":             "10.0.0.1",
		"[2001:db8:1:2:3:4:5:6]:80": "2001:db8:1:2::/64",
		"[::ffff:10.0.0.1]:80":      "10.0.0.1",
		"[fe80::1%eth0]:80":         "fe80::/64",
		"2001:db8:1:2:aaaa::1":      "2001:db8:1:2::/64",
		"not-an-address":            "not-an-address",
	} {
		if got := HostKey(in); got != want {
			t.Errorf("HostKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	c := Defaults()
	c.MaxLockout = time.Second
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "auth_guard.max_lockout") {
		t.Fatalf("err = %v", err)
	}
	c = Defaults()
	c.MaxFailures = 0
	if _, err := New(Params{Config: c}); err == nil || !strings.Contains(err.Error(), "auth_guard.max_failures") {
		t.Fatalf("err = %v", err)
	}
}

func TestMetricsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if a.Failures != b.Failures || a.Lockouts != b.Lockouts {
		t.Fatal("second NewMetrics on one registry made new counters")
	}
}
