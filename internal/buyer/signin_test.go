package buyer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyermail"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
	"github.com/livedrop/livedrop/internal/redistest"
)

const (
	secret = "signin-test-secret-0123456789"
	dev    = "device-abcdef012345"
	ip     = "192.0.2.7"
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

// edge is one edge's sign-in: its own sessions, metrics and guard, a
// shared store and the test's SMTP server.
type edge struct {
	*buyer.SignIn
	m *buyer.Metrics
}

func newEdge(t *testing.T, store buyer.Store, mail *smtptest.Server, now func() time.Time, mut func(*buyer.Config)) edge {
	t.Helper()
	cfg := buyer.Defaults()
	cfg.SessionSecrets = []string{secret}
	if mut != nil {
		mut(&cfg)
	}
	m, err := buyer.NewMetrics(newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := buyer.NewSessions(cfg.SessionSecrets, cfg.SessionTTL, now, m)
	if err != nil {
		t.Fatal(err)
	}
	mc := buyermail.Defaults()
	mc.Addr, mc.TLS = mail.Addr(), buyermail.None
	mailer, err := buyermail.New(mc, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := buyer.NewSignIn(buyer.Params{Config: cfg, Sessions: sess, Store: store, Mailer: mailer, Metrics: m, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return edge{s, m}
}

func send(t *testing.T, e edge, mail *smtptest.Server, email string) string {
	t.Helper()
	if _, err := e.SendCode(context.Background(), email, ip); err != nil {
		t.Fatalf("send code to %s: %v", email, err)
	}
	code, err := mail.Code(strings.ToLower(strings.TrimSpace(email)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func verify(e edge, email, code string) (buyer.Issued, error) {
	return e.VerifyCode(context.Background(), buyer.VerifyRequest{Email: email, Code: code, Device: dev, IP: ip})
}

func wrong(code string) string { return fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000) }

func atoi(s string) int { n := 0; fmt.Sscan(s, &n); return n }

func refusal(t *testing.T, err error, class error) *buyer.Refusal {
	t.Helper()
	var r *buyer.Refusal
	if !errors.As(err, &r) || !errors.Is(err, class) {
		t.Fatalf("error %v, want a refusal of class %v", err, class)
	}
	return r
}

func TestEmailCodeSignIn(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	clk := &clock{t: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)}
	e := newEdge(t, buyer.NewMemStore(clk.now), mail, clk.now, nil)
	code := send(t, e, mail, "  Ann@Example.COM ")
	is, err := e.VerifyCode(context.Background(), buyer.VerifyRequest{Email: "ann@example.com", Code: code, Device: dev, IP: ip, Marketing: true})
	if err != nil {
		t.Fatal(err)
	}
	if is.Session.Kind != buyer.KindEmail || !strings.HasPrefix(is.Session.Buyer, "e-") || is.Session.Device != dev {
		t.Fatalf("session %+v", is.Session)
	}
	if got, err := e.Sessions().Verify(is.Token); err != nil || got != is.Session {
		t.Fatalf("token verifies to %+v, %v", got, err)
	}
	if r := is.Record; r.Email != "ann@example.com" || !r.Marketing || !r.EmailAt.Equal(clk.now()) || !r.MarketingAt.Equal(clk.now()) {
		t.Fatalf("record %+v", r)
	}
	// A code is single use.
	if _, err := verify(e, "ann@example.com", code); refusal(t, err, buyer.ErrNoCode) == nil {
		t.Fatal("reused code accepted")
	}
	// The same email later, any spelling: the same buyer; consent kept.
	clk.add(time.Hour)
	again, err := verify(e, "ANN@example.com", send(t, e, mail, "ann@EXAMPLE.com"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Session.Buyer != is.Session.Buyer || !again.Record.MarketingAt.Equal(is.Record.MarketingAt) {
		t.Fatalf("second sign-in %+v, first %+v", again, is)
	}
	other, err := verify(e, "bob@example.com", send(t, e, mail, "bob@example.com"))
	if err != nil || other.Session.Buyer == is.Session.Buyer || other.Record.Marketing {
		t.Fatalf("another email: %+v %v", other, err)
	}
	c, err := e.Counts(context.Background(), clk.now().Add(-2*time.Hour), clk.now().Add(time.Minute))
	if err != nil || c.NewEmails != 2 || c.MarketingConsents != 1 {
		t.Fatalf("counts %+v %v, want 2 new emails, 1 marketing consent", c, err)
	}
	if c, _ := e.Counts(context.Background(), clk.now().Add(-30*time.Minute), clk.now().Add(time.Minute)); c.NewEmails != 1 || c.MarketingConsents != 0 {
		t.Fatalf("counts of the last half hour %+v, want bob only", c)
	}
	if n := testutil.ToFloat64(e.m.SignIns.WithLabelValues("email", "ok")); n != 3 {
		t.Fatalf("email sign-ins ok = %v", n)
	}
	if n := testutil.ToFloat64(e.m.CodesSent.WithLabelValues("sent")); n != 3 {
		t.Fatalf("codes sent = %v", n)
	}
	// Bad input is refused before anything is sent or counted.
	for _, bad := range []string{"", "ann", "ann@", "@example.com", "Ann <ann@example.com>", "ann@example", "a b@example.com", "ann@exämple.com"} {
		if _, err := e.SendCode(context.Background(), bad, ip); refusal(t, err, buyer.ErrInvalid) == nil {
			t.Fatalf("sent to %q", bad)
		}
	}
	if len(mail.Messages()) != 3 {
		t.Fatalf("%d messages, want 3", len(mail.Messages()))
	}
}

// TestWrongCodeFiveTimesLocks: four wrong codes say how many tries are
// left; the fifth locks the email; while locked even the right code and
// a new code are refused; after the lockout a new code works.
func TestWrongCodeFiveTimesLocks(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	clk := &clock{t: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)}
	e := newEdge(t, buyer.NewMemStore(clk.now), mail, clk.now, nil)
	checkLockout(t, e, mail, func() { clk.add(15*time.Minute + time.Second) })
	if n := testutil.ToFloat64(e.m.Lockouts); n != 1 {
		t.Fatalf("lockouts = %v", n)
	}
	if n := testutil.ToFloat64(e.m.CodeFailures.WithLabelValues("wrong")); n != 5 {
		t.Fatalf("wrong codes counted %v", n)
	}
}

func checkLockout(t *testing.T, e edge, mail *smtptest.Server, pass func()) {
	t.Helper()
	code := send(t, e, mail, "eve@example.com")
	for i := 1; i <= 4; i++ {
		_, err := verify(e, "eve@example.com", wrong(code))
		if r := refusal(t, err, buyer.ErrWrongCode); r.AttemptsLeft != 5-i {
			t.Fatalf("wrong code %d: %d tries left, want %d", i, r.AttemptsLeft, 5-i)
		}
	}
	_, err := verify(e, "eve@example.com", wrong(code))
	if r := refusal(t, err, buyer.ErrLocked); r.RetryAfter <= 0 || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("fifth wrong code: %v (retry after %v)", err, r.RetryAfter)
	}
	if _, err := verify(e, "eve@example.com", code); refusal(t, err, buyer.ErrLocked) == nil {
		t.Fatal("right code accepted while locked")
	}
	if _, err := e.SendCode(context.Background(), "eve@example.com", ip); refusal(t, err, buyer.ErrLocked) == nil {
		t.Fatal("new code sent while locked")
	}
	pass()
	if _, err := verify(e, "eve@example.com", send(t, e, mail, "eve@example.com")); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
}

func TestSendLimits(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	clk := &clock{t: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)}
	e := newEdge(t, buyer.NewMemStore(clk.now), mail, clk.now, func(c *buyer.Config) { c.SendsPerEmail, c.SendsPerIP = 3, 5 })
	for i := 0; i < 3; i++ {
		send(t, e, mail, "ann@example.com")
	}
	_, err := e.SendCode(context.Background(), "ann@example.com", "192.0.2.99")
	if r := refusal(t, err, buyer.ErrRateLimited); r.RetryAfter <= 0 || r.RetryAfter > time.Hour {
		t.Fatalf("fourth code to one email: retry after %v", r.RetryAfter)
	}
	send(t, e, mail, "bob@example.com")
	send(t, e, mail, "carol@example.com")
	if _, err := e.SendCode(context.Background(), "dave@example.com", ip); refusal(t, err, buyer.ErrRateLimited) == nil {
		t.Fatal("sixth code from one address sent")
	}
	clk.add(time.Hour)
	send(t, e, mail, "ann@example.com")
	if n := len(mail.Messages()); n != 6 {
		t.Fatalf("%d messages sent, want 6", n)
	}
}

// TestCodesAcrossEdgesOnRedis: two edges share Redis: a code sent by one
// is entered at the other, once; wrong codes entered at either count
// together toward the lockout, which holds on both.
func TestCodesAcrossEdgesOnRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	mail := smtptest.Start(t, smtptest.Options{})
	store := func() buyer.Store {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { rdb.Close() })
		return buyer.NewRedisStore(rdb)
	}
	short := func(c *buyer.Config) { c.CodeLockout = 2 * time.Second }
	a, b := newEdge(t, store(), mail, nil, short), newEdge(t, store(), mail, nil, short)
	code := send(t, a, mail, "ann@example.com")
	is, err := verify(b, "ann@example.com", code)
	if err != nil {
		t.Fatalf("code from edge a entered at edge b: %v", err)
	}
	if _, err := verify(a, "ann@example.com", code); refusal(t, err, buyer.ErrNoCode) == nil {
		t.Fatal("code used at b accepted again at a")
	}
	again, err := verify(a, "ann@example.com", send(t, b, mail, "ann@example.com"))
	if err != nil || again.Session.Buyer != is.Session.Buyer {
		t.Fatalf("same email through the other edge: %+v %v, want buyer %s", again.Session, err, is.Session.Buyer)
	}
	// Lockout across edges: 3 wrong at a, 2 at b.
	code = send(t, a, mail, "eve@example.com")
	for i, e := range []edge{a, a, a, b} {
		if _, err := verify(e, "eve@example.com", wrong(code)); refusal(t, err, buyer.ErrWrongCode).AttemptsLeft != 4-i {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	if _, err := verify(b, "eve@example.com", wrong(code)); refusal(t, err, buyer.ErrLocked) == nil {
		t.Fatal("fifth wrong code did not lock")
	}
	if _, err := verify(a, "eve@example.com", code); refusal(t, err, buyer.ErrLocked) == nil {
		t.Fatal("the other edge accepted the right code while locked")
	}
	// Wait for the lockout's end (the locked code was dropped: none is
	// pending then), then a new code works.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := verify(b, "eve@example.com", code)
		if errors.Is(err, buyer.ErrNoCode) {
			break
		}
		if !errors.Is(err, buyer.ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("waiting for the lockout's end: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := verify(b, "eve@example.com", send(t, a, mail, "eve@example.com")); err != nil {
		t.Fatalf("new code after the lockout: %v", err)
	}
	// Consent and the KPI on Redis.
	c, err := a.Counts(context.Background(), time.Now().Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil || c.NewEmails != 2 {
		t.Fatalf("counts %+v %v, want 2 new emails", c, err)
	}
}

func TestGuest(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	e := newEdge(t, buyer.NewMemStore(nil), mail, nil, nil)
	a, err := e.Guest(dev, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Guest(dev, "192.0.2.1")
	if err != nil || a.Session.Buyer == b.Session.Buyer || a.Session.Kind != buyer.KindGuest || !strings.HasPrefix(a.Session.Buyer, "g-") {
		t.Fatalf("guests %+v %+v %v", a.Session, b.Session, err)
	}
	if _, err := e.Guest("short", "192.0.2.1"); refusal(t, err, buyer.ErrInvalid) == nil {
		t.Fatal("bad device accepted")
	}
	off := newEdge(t, buyer.NewMemStore(nil), mail, nil, func(c *buyer.Config) { c.Guest = false })
	if _, err := off.Guest(dev, "192.0.2.1"); refusal(t, err, buyer.ErrInvalid) == nil {
		t.Fatal("guest sign-in while off")
	}
}

// TestGuestsPerAddress: one address gets guests_per_ip guests at once,
// then guest_refill_per_s; the refusal says so and when to come back, and
// other addresses are not affected.
func TestGuestsPerAddress(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	var mu sync.Mutex
	clock := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	e := newEdge(t, buyer.NewMemStore(nil), mail, now, func(c *buyer.Config) { c.GuestsPerIP, c.GuestRefill = 3, 1 })
	for i := range 3 {
		if _, err := e.Guest(dev, "198.51.100.7"); err != nil {
			t.Fatalf("guest %d: %v", i, err)
		}
	}
	_, err := e.Guest(dev, "198.51.100.7")
	r := refusal(t, err, buyer.ErrRateLimited)
	if r == nil || r.RetryAfter <= 0 || r.RetryAfter > time.Second || !strings.Contains(r.Msg, "too many guest sign-ins from this address") {
		t.Fatalf("fourth guest from one address: %v (%+v)", err, r)
	}
	if _, err := e.Guest(dev, "198.51.100.8"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	mu.Lock()
	clock = clock.Add(time.Second)
	mu.Unlock()
	if _, err := e.Guest(dev, "198.51.100.7"); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
	if _, err := e.Guest(dev, "198.51.100.7"); refusal(t, err, buyer.ErrRateLimited) == nil {
		t.Fatal("the refill gave more than one per second")
	}
	if got := testutil.ToFloat64(e.m.SignIns.WithLabelValues(buyer.KindGuest, "rate_limited")); got != 2 {
		t.Fatalf("rate_limited guest sign-ins counted %v, want 2", got)
	}
}
