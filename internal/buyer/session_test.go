package buyer

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	secretA = "session-secret-a-0123456789"
	secretB = "session-secret-b-0123456789"
	device  = "device-0123456789"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func sessions(t *testing.T, clk *clock, m *Metrics, secrets ...string) *Sessions {
	t.Helper()
	s, err := NewSessions(secrets, time.Hour, clk.now, m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func refusalReason(t *testing.T, err error) string {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) || !errors.Is(err, ErrSession) {
		t.Fatalf("error %v is not a session refusal", err)
	}
	return r.Reason
}

func TestSessionRoundTrip(t *testing.T) {
	clk := newClock()
	s := sessions(t, clk, nil, secretA)
	id := NewGuestID()
	tok, minted, err := s.Mint(id, device, KindGuest)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got != minted || got.Buyer != id || got.Device != device || got.Kind != KindGuest || !got.Expires.Equal(clk.now().Add(time.Hour)) {
		t.Fatalf("verified %+v, minted %+v", got, minted)
	}
	if again, err := s.Verify(tok); err != nil || again != minted {
		t.Fatalf("verified again (remembered): %+v %v", again, err)
	}
	clk.add(time.Hour + 6*time.Second)
	if _, err := s.Verify(tok); refusalReason(t, err) != "expired" {
		t.Fatalf("a remembered session past its expiry: %v, want expired", err)
	}
	if _, _, err := s.Mint("made-up", device, KindGuest); !errors.Is(err, ErrInvalid) {
		t.Fatalf("minted a session for a made-up buyer id: %v", err)
	}
}

// TestSessionRotation: the old key still verifies while listed second;
// dropped, its tokens are refused as unknown; new tokens carry the new kid.
func TestSessionRotation(t *testing.T) {
	clk := newClock()
	m := newMetrics()
	old := sessions(t, clk, m, secretA)
	oldTok, _, _ := old.Mint(NewGuestID(), device, KindGuest)

	rotating := sessions(t, clk, m, secretB, secretA)
	if _, err := rotating.Verify(oldTok); err != nil {
		t.Fatalf("old key second: its token refused: %v", err)
	}
	newTok, _, _ := rotating.Mint(NewGuestID(), device, KindEmail)
	if _, err := old.Verify(newTok); refusalReason(t, err) != "unknown_key" {
		t.Fatalf("an edge without the new key: %v, want unknown_key", err)
	}
	done := sessions(t, clk, m, secretB)
	if _, err := done.Verify(newTok); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if _, err := done.Verify(oldTok); refusalReason(t, err) != "unknown_key" {
		t.Fatalf("old key dropped: %v, want unknown_key", err)
	}
	if n := testutil.ToFloat64(m.SessionFailures.WithLabelValues("unknown_key")); n != 2 {
		t.Fatalf("unknown_key failures counted %v, want 2", n)
	}
}

func TestSessionRefusals(t *testing.T) {
	clk := newClock()
	m := newMetrics()
	s := sessions(t, clk, m, secretA)
	tok, _, _ := s.Mint(NewGuestID(), device, KindGuest)
	parts := strings.Split(tok, ".")

	// Claims rewritten to another buyer, signature kept.
	other, _, _ := s.Mint(NewGuestID(), device, KindGuest)
	swapped := parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
	// Signed with a secret nobody configured but a kid this edge knows.
	forged := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Device: device, Kind: KindEmail, RegisteredClaims: jwt.RegisteredClaims{
		Subject: NewGuestID(), Audience: jwt.ClaimStrings{Audience}, ExpiresAt: jwt.NewNumericDate(clk.now().Add(time.Hour))}})
	forged.Header["kid"] = keyID(secretA)
	forgedTok, _ := forged.SignedString([]byte("attacker-secret-0123456789"))
	// alg none, and a node token (another audience) signed with the same secret.
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims{Device: device, Kind: KindGuest, RegisteredClaims: jwt.RegisteredClaims{
		Subject: NewGuestID(), Audience: jwt.ClaimStrings{Audience}, ExpiresAt: jwt.NewNumericDate(clk.now().Add(time.Hour))}})
	none.Header["kid"] = keyID(secretA)
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	node := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: NewGuestID(), Audience: jwt.ClaimStrings{"livedrop-node"},
		ExpiresAt: jwt.NewNumericDate(clk.now().Add(time.Hour))})
	node.Header["kid"] = keyID(secretA)
	nodeTok, _ := node.SignedString([]byte(secretA))
	noKid := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Device: device, Kind: KindGuest, RegisteredClaims: jwt.RegisteredClaims{
		Subject: NewGuestID(), Audience: jwt.ClaimStrings{Audience}, ExpiresAt: jwt.NewNumericDate(clk.now().Add(time.Hour))}})
	noKidTok, _ := noKid.SignedString([]byte(secretA))
	badBuyer := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Device: device, Kind: KindGuest, RegisteredClaims: jwt.RegisteredClaims{
		Subject: "alice", Audience: jwt.ClaimStrings{Audience}, ExpiresAt: jwt.NewNumericDate(clk.now().Add(time.Hour))}})
	badBuyer.Header["kid"] = keyID(secretA)
	badBuyerTok, _ := badBuyer.SignedString([]byte(secretA))

	cases := []struct{ name, tok, reason string }{
		{"missing", "", "missing"},
		{"garbage", "abc", "malformed"},
		{"too long", strings.Repeat("a", MaxTokenLen+1), "malformed"},
		{"tampered claims", swapped, "bad_signature"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + strings.ToUpper(parts[2][:4]) + parts[2][4:], "bad_signature"},
		{"forged with a known kid", forgedTok, "bad_signature"},
		{"alg none", noneTok, "bad_signature"},
		{"node token", nodeTok, "invalid_claims"},
		{"no kid", noKidTok, "unknown_key"},
		{"made-up buyer id", badBuyerTok, "invalid_claims"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "tampered signature" && strings.ToUpper(parts[2][:4]) == parts[2][:4] {
				t.Skip("signature starts in upper case already")
			}
			_, err := s.Verify(tc.tok)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := refusalReason(t, err); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
	clk.add(time.Hour + 6*time.Second) // past expiry and the leeway
	if _, err := s.Verify(tok); refusalReason(t, err) != "expired" || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	if n := testutil.ToFloat64(m.SessionFailures.WithLabelValues("expired")); n != 1 {
		t.Fatalf("expired counted %v", n)
	}
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
}

func TestSessionSecretsChecked(t *testing.T) {
	if _, err := NewSessions(nil, time.Hour, nil, nil); err == nil {
		t.Fatal("no secret accepted")
	}
	if _, err := NewSessions([]string{"short"}, time.Hour, nil, nil); err == nil || !strings.Contains(err.Error(), "buyer.session_secrets[0]") {
		t.Fatalf("short secret: %v", err)
	}
}

// BenchmarkSessionVerify is the cost every order pays for its session:
// a token seen for the first time (parsed, HMAC checked), and one verified
// lately (a retry, the buyer's next order).
func BenchmarkSessionVerify(b *testing.B) {
	s, err := NewSessions([]string{secretA, secretB}, time.Hour, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("first", func(b *testing.B) {
		toks := make([]string, 4096)
		for i := range toks {
			toks[i], _, _ = s.Mint(NewGuestID(), device, KindGuest)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.verify(toks[i%len(toks)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("again", func(b *testing.B) {
		tok, _, _ := s.Mint(NewGuestID(), device, KindGuest)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestSessionsConcurrently(t *testing.T) {
	s := sessions(t, newClock(), nil, secretA, secretB)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				tok, minted, err := s.Mint(NewGuestID(), device, KindGuest)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := s.Verify(tok); err != nil || got != minted {
					t.Errorf("verified %+v %v, minted %+v", got, err, minted)
					return
				}
				if _, err := s.Verify(tok + "x"); err == nil {
					t.Error("tampered token accepted")
					return
				}
			}
		}()
	}
	wg.Wait()
}
