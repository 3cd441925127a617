package proof

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const secretA, secretB = "node-secret-aaaaaaaaaaaa", "node-secret-bbbbbbbbbbbb"

var t0 = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)

func newGate(t testing.TB, cfg Config, secrets ...string) (*Gate, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	g, err := New(Params{Config: cfg, NodeSecrets: secrets, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return g, reg
}

func receiving(stream string, since time.Time, now time.Time) SessionState {
	return SessionState{Stream: stream, Connected: true, Receiving: since, LastReport: now.Add(-500 * time.Millisecond)}
}

func asRefusal(t *testing.T, err error) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("error %v is not a refusal", err)
	}
	return r
}

func TestWatchProof(t *testing.T) {
	g, reg := newGate(t, Defaults(), secretA)
	watch := Policy{WatchSeconds: 20}
	now := t0
	_, old, err := g.IssueWatch("ann", "sess1", receiving("live", now.Add(-25*time.Second), now), now)
	if err != nil {
		t.Fatal(err)
	}
	_, young, err := g.IssueWatch("ann", "sess1", receiving("live", now.Add(-8*time.Second), now), now)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newGate(t, Defaults(), secretB)
	_, foreign, err := other.IssueWatch("ann", "sess1", receiving("live", now.Add(-25*time.Second), now), now)
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(old)
	flipped[10] ^= 1
	if flipped[10] == old[10] {
		t.Fatal("no change")
	}
	tests := []struct {
		name, proof, buyer, stream string
		at                         time.Time
		code, reason, msg          string
	}{
		{"ok", old, "ann", "live", now.Add(time.Second), "", "", ""},
		{"missing", "", "ann", "live", now, CodeWatchRequired, "watch_missing", "watch the stream for 20 s before buying: 20 s left"},
		{"too young", young, "ann", "live", now, CodeWatchRequired, "watch_too_young", "watch the stream for 20 s before buying: 12 s left"},
		{"other buyer", old, "bob", "live", now, CodeWatchInvalid, "watch_other_buyer", "another buyer"},
		{"other stream", old, "ann", "other", now, CodeWatchInvalid, "watch_other_stream", "another stream"},
		{"expired", old, "ann", "live", now.Add(31 * time.Second), CodeWatchInvalid, "watch_expired", "expired"},
		{"forged bit", string(flipped), "ann", "live", now, CodeWatchInvalid, "watch_invalid", "not valid"},
		{"other secret", foreign, "ann", "live", now, CodeWatchInvalid, "watch_invalid", "not valid"},
		{"garbage", "!!!", "ann", "live", now, CodeWatchInvalid, "watch_invalid", "not valid"},
		{"too long", strings.Repeat("A", MaxTokenLen+1), "ann", "live", now, CodeWatchInvalid, "watch_invalid", "not valid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(g.m.refusals.WithLabelValues(tc.reason))
			err := g.Check(watch, Order{Stream: tc.stream, Buyer: tc.buyer, OrderID: "o1", WatchProof: tc.proof}, tc.at)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			r := asRefusal(t, err)
			if r.Code != tc.code || r.Reason != tc.reason || !strings.Contains(r.Msg, tc.msg) {
				t.Fatalf("refusal %+v, want code %s reason %s message with %q", r, tc.code, tc.reason, tc.msg)
			}
			if got := testutil.ToFloat64(g.m.refusals.WithLabelValues(tc.reason)); got != before+1 {
				t.Fatalf("refusals{reason=%s} = %v, want %v", tc.reason, got, before+1)
			}
		})
	}
	if got := testutil.ToFloat64(g.m.issued.WithLabelValues("watch")); got != 2 {
		t.Fatalf("watch proofs issued %v, want 2", got)
	}
	_ = reg
}

// TestWatchProofRotation: a proof signed with the old first secret still
// verifies at an edge that has moved the new one first.
func TestWatchProofRotation(t *testing.T) {
	oldEdge, _ := newGate(t, Defaults(), secretA)
	newEdge, _ := newGate(t, Defaults(), secretB, secretA)
	_, tok, err := oldEdge.IssueWatch("ann", "s", receiving("live", t0.Add(-time.Minute), t0), t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := newEdge.Check(Policy{WatchSeconds: 30}, Order{Stream: "live", Buyer: "ann", WatchProof: tok}, t0); err != nil {
		t.Fatalf("rotated edge refuses the old key's proof: %v", err)
	}
	c, err := newEdge.ParseWatch(tok)
	if err != nil || c.Buyer != "ann" || c.Session != "s" || c.Watched() != time.Minute {
		t.Fatalf("claims %+v (%v)", c, err)
	}
}

func TestWatchProofNotIssued(t *testing.T) {
	g, _ := newGate(t, Defaults(), secretA)
	for name, s := range map[string]SessionState{
		"not connected":  {Stream: "live", Receiving: t0.Add(-time.Minute), LastReport: t0},
		"no reports yet": {Stream: "live", Connected: true},
		"reports stale":  {Stream: "live", Connected: true, Receiving: t0.Add(-time.Minute), LastReport: t0.Add(-6 * time.Second)},
	} {
		if _, _, err := g.IssueWatch("ann", "s", s, t0); !errors.Is(err, ErrNotReceiving) {
			t.Errorf("%s: %v, want ErrNotReceiving", name, err)
		}
	}
}

func solve(t testing.TB, g *Gate, buyer string, now time.Time) string {
	t.Helper()
	c, err := g.IssueChallenge(buyer, now)
	if err != nil {
		t.Fatal(err)
	}
	return c.Token + "." + strconv.FormatUint(Solve(c.Seed, c.Bits), 10)
}

func TestProofOfWork(t *testing.T) {
	cfg := Defaults()
	cfg.PoWBaseBits = 8
	g, _ := newGate(t, cfg, secretA)
	pow := Policy{ProofOfWork: true}
	now := t0
	order := func(buyer, id, sol string, at time.Time) error {
		return g.Check(pow, Order{Stream: "live", Buyer: buyer, OrderID: id, PoW: sol}, at)
	}
	sol := solve(t, g, "ann", now)
	if err := order("ann", "o1", sol, now); err != nil {
		t.Fatalf("solved challenge refused: %v", err)
	}
	if err := order("ann", "o1", sol, now.Add(time.Second)); err != nil {
		t.Fatalf("a retry of the same order refused: %v", err)
	}
	if r := asRefusal(t, order("ann", "o2", sol, now)); r.Code != CodePoWReplayed {
		t.Fatalf("replay for another order: %+v", r)
	}
	c, _ := g.IssueChallenge("ann", now)
	n := Solve(c.Seed, c.Bits)
	wrong := n + 1
	for leadingZeros(&c.Seed, wrong) >= c.Bits {
		wrong++
	}
	other, _ := newGate(t, cfg, secretB)
	forged := solve(t, other, "ann", now)
	tests := []struct {
		name, buyer, sol string
		at               time.Time
		code, reason     string
	}{
		{"missing", "ann", "", now, CodePoWRequired, "pow_missing"},
		{"wrong nonce", "ann", c.Token + "." + strconv.FormatUint(wrong, 10), now, CodePoWInvalid, "pow_wrong"},
		{"other buyer", "bob", c.Token + "." + strconv.FormatUint(n, 10), now, CodePoWInvalid, "pow_other_buyer"},
		{"expired", "ann", c.Token + "." + strconv.FormatUint(n, 10), now.Add(cfg.ChallengeTTL + time.Second), CodePoWInvalid, "pow_expired"},
		{"forged", "ann", forged, now, CodePoWInvalid, "pow_invalid"},
		{"no nonce", "ann", c.Token, now, CodePoWInvalid, "pow_invalid"},
		{"bad nonce", "ann", c.Token + ".x", now, CodePoWInvalid, "pow_invalid"},
		{"watch proof as pow", "ann", watchTok(t, g) + ".1", now, CodePoWInvalid, "pow_invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := asRefusal(t, order(tc.buyer, "o-"+tc.name, tc.sol, tc.at))
			if r.Code != tc.code || r.Reason != tc.reason {
				t.Fatalf("refusal %+v, want %s/%s", r, tc.code, tc.reason)
			}
		})
	}
	if err := order("ann", "o3", c.Token+"."+strconv.FormatUint(n, 10), now); err != nil {
		t.Fatalf("the challenge, solved, after the refusals: %v", err)
	}
}

func watchTok(t *testing.T, g *Gate) string {
	_, tok, err := g.IssueWatch("ann", "s", receiving("live", t0.Add(-time.Minute), t0), t0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestBothProofs: watch time is checked first, so a refused order does not
// spend its challenge.
func TestBothProofs(t *testing.T) {
	cfg := Defaults()
	cfg.PoWBaseBits = 6
	g, _ := newGate(t, cfg, secretA)
	p := Policy{WatchSeconds: 10, ProofOfWork: true}
	sol := solve(t, g, "ann", t0)
	_, young, _ := g.IssueWatch("ann", "s", receiving("live", t0.Add(-3*time.Second), t0), t0)
	if r := asRefusal(t, g.Check(p, Order{Stream: "live", Buyer: "ann", OrderID: "a", WatchProof: young, PoW: sol}, t0)); r.Code != CodeWatchRequired || r.Wait != 7*time.Second {
		t.Fatalf("%+v", r)
	}
	_, old, _ := g.IssueWatch("ann", "s", receiving("live", t0.Add(-13*time.Second), t0), t0)
	if err := g.Check(p, Order{Stream: "live", Buyer: "ann", OrderID: "b", WatchProof: old, PoW: sol}, t0); err != nil {
		t.Fatalf("both proofs good: %v", err)
	}
	if err := g.Check(Policy{}, Order{}, t0); err != nil {
		t.Fatalf("ungated drop: %v", err)
	}
}

func TestDifficultyRule(t *testing.T) {
	d := &difficulty{base: 16, max: 19, knee: 50}
	for _, tc := range []struct {
		rate float64
		bits int
	}{{0, 16}, {50, 16}, {51, 17}, {100, 17}, {101, 18}, {200, 18}, {400, 19}, {1e6, 19}} {
		if got := d.bitsAt(tc.rate); got != tc.bits {
			t.Errorf("rate %v: %d bits, want %d", tc.rate, got, tc.bits)
		}
	}
	// 1,200 gated orders in the last 10 s: 120/s, two doublings above 50/s.
	cfg := Defaults()
	g, _ := newGate(t, cfg, secretA)
	if got := g.Difficulty(t0); got != 16 {
		t.Fatalf("at rest %d bits", got)
	}
	for i := range 1200 {
		g.diff.observe(t0.Add(time.Duration(i) * 10 * time.Second / 1200))
	}
	now := t0.Add(9999 * time.Millisecond)
	if got := g.Difficulty(now); got != 18 {
		t.Fatalf("at 120 orders/s %d bits, want 18", got)
	}
	if got := testutil.ToFloat64(g.m.difficulty); got != 18 {
		t.Fatalf("gauge %v", got)
	}
	c, err := g.IssueChallenge("ann", now)
	if err != nil || c.Bits != 18 {
		t.Fatalf("challenge bits %d (%v)", c.Bits, err)
	}
	// A challenge from the calm (16 bits) no longer buys at 18: stockpiles
	// are worth nothing in a rush. One bit below (17) still does.
	calm, _ := g.IssueChallenge("ann", t0.Add(-time.Minute))
	if calm.Bits != 16 {
		t.Fatalf("calm challenge %d bits", calm.Bits)
	}
	err = g.Check(Policy{ProofOfWork: true}, Order{Buyer: "ann", OrderID: "x", PoW: calm.Token + "." + strconv.FormatUint(Solve(calm.Seed, calm.Bits), 10)}, now)
	if r := asRefusal(t, err); r.Reason != "pow_too_easy" || r.Code != CodePoWInvalid {
		t.Fatalf("stockpiled challenge: %+v", r)
	}
	// The load passes: back to the base once the window has moved on.
	if got := g.Difficulty(now.Add(11 * time.Second)); got != 16 {
		t.Fatalf("after the load %d bits", got)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(2*time.Minute, 1000)
	exp := t0.Add(2 * time.Minute)
	for i := range 1000 {
		var s [16]byte
		s[0], s[1] = byte(i), byte(i>>8)
		if err := c.spend(s, 1, exp, t0); err != nil {
			t.Fatalf("spend %d: %v", i, err)
		}
	}
	var s [16]byte
	s[5] = 1
	if err := c.spend(s, 1, exp, t0); !errors.Is(err, ErrPoWBusy) {
		t.Fatalf("full cache: %v, want busy", err)
	}
	// Still remembered, not cleared: a replay is still a replay.
	if err := c.spend([16]byte{}, 2, exp, t0.Add(time.Minute)); !errors.Is(err, ErrPoWReplayed) {
		t.Fatalf("replay in a full cache: %v", err)
	}
	// Once they have expired their bucket goes, and room comes back.
	if err := c.spend(s, 1, exp.Add(2*time.Minute), exp.Add(time.Minute)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if c.size() != 1 {
		t.Fatalf("size %d after expiry, want 1", c.size())
	}
}

func TestConfigValidate(t *testing.T) {
	d := Defaults()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Defaults()
	bad.PoWMaxBits = 30
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "proof.pow_max_bits") {
		t.Fatalf("%v", err)
	}
	if _, err := New(Params{Config: d, NodeSecrets: []string{"short"}}); err == nil {
		t.Fatal("short secret accepted")
	}
}

// TestCarriedSince: a valid proof of the same buyer and stream carries its
// start over to a new session's proof (a page that moved edges); an expired
// one, another buyer's or stream's, a forged one or none carries nothing.
func TestCarriedSince(t *testing.T) {
	g, _ := newGate(t, Defaults(), secretA)
	other, _ := newGate(t, Defaults(), secretB)
	now := t0
	since := now.Add(-40 * time.Second)
	_, prior, err := g.IssueWatch("ann", "sess-a", receiving("live", since, now), now)
	if err != nil {
		t.Fatal(err)
	}
	_, foreign, _ := other.IssueWatch("ann", "sess-a", receiving("live", since, now), now)
	later := now.Add(5 * time.Second)
	if got, ok := g.CarriedSince(prior, "ann", "live", later); !ok || !got.Equal(since) {
		t.Fatalf("carried %v %v, want %v", got, ok, since)
	}
	for name, tc := range map[string]struct {
		tok, buyer, stream string
		at                 time.Time
	}{
		"expired":      {prior, "ann", "live", now.Add(Defaults().WatchProofTTL + time.Second)},
		"other buyer":  {prior, "bob", "live", later},
		"other stream": {prior, "ann", "other", later},
		"other secret": {foreign, "ann", "live", later},
		"garbage":      {"AAAA", "ann", "live", later},
		"none":         {"", "ann", "live", later},
	} {
		if got, ok := g.CarriedSince(tc.tok, tc.buyer, tc.stream, tc.at); ok {
			t.Errorf("%s: carried %v", name, got)
		}
	}
	// The new session's proof starts where the prior one did.
	c, _, err := g.IssueWatch("ann", "sess-b", receiving("live", since, later), later)
	if err != nil || c.Watched() != 45*time.Second {
		t.Fatalf("proof from the carried start: %v %v", c.Watched(), err)
	}
}
