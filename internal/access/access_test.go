package access

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	secretA = "node-secret-aaaaaaaaaaaa"
	secretB = "node-secret-bbbbbbbbbbbb"
	hsKey   = "playback-key-0123456789"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func policy(t *testing.T, cfg Config, c *clock) *Policy {
	t.Helper()
	p, err := NewPolicy(cfg, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func offer(tok string) *http.Request {
	r := httptest.NewRequest("POST", "/whep/demo", strings.NewReader("v=0"))
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

func refusal(t *testing.T, err error, status int, reason, text string) {
	t.Helper()
	var ref *Refusal
	if !errors.As(err, &ref) {
		t.Fatalf("want a refusal %d %s, got %v", status, reason, err)
	}
	if ref.Status != status || ref.Reason != reason || !strings.Contains(ref.Msg, text) {
		t.Fatalf("got %d %s %q, want %d %s containing %q", ref.Status, ref.Reason, ref.Msg, status, reason, text)
	}
}

// TestNodesOnly: an origin that serves only edges refuses a viewer with no
// token or a made-up one, and takes an edge's token signed with any of its
// secrets, until the token expires.
func TestNodesOnly(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	origin := policy(t, Config{NodeSecrets: []string{secretA, secretB}, Viewers: Nodes}, c)
	refusal(t, origin.Authorize(offer(""), "demo"), 401, "missing_token", "livedrop edges")
	refusal(t, origin.Authorize(offer("nonsense"), "demo"), 401, "bad_token", "node token refused")

	for _, s := range []string{secretA, secretB} { // mid-rotation: both are taken
		edge := policy(t, Config{NodeSecrets: []string{s}, Viewers: Public}, c)
		tok, err := edge.NodeToken("edge-1")
		if err != nil {
			t.Fatal(err)
		}
		if err := origin.Authorize(offer(tok), "demo"); err != nil {
			t.Fatalf("edge token signed with one of the origin's secrets refused: %v", err)
		}
	}
	stranger := policy(t, Config{NodeSecrets: []string{"some-other-secret-xyz"}, Viewers: Public}, c)
	tok, _ := stranger.NodeToken("edge-x")
	refusal(t, origin.Authorize(offer(tok), "demo"), 401, "bad_token", "node token refused")

	edge := policy(t, Config{NodeSecrets: []string{secretA}, Viewers: Public}, c)
	tok, _ = edge.NodeToken("edge-1")
	c.t = c.t.Add(nodeTokenTTL + time.Minute)
	refusal(t, origin.Authorize(offer(tok), "demo"), 401, "bad_token", "expired")
}

// TestPlaybackTokens: a token stream takes HS256 and EdDSA tokens for that
// stream only, with an expiry, and says why it refuses.
func TestPlaybackTokens(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	edge := policy(t, Config{Viewers: Public, Streams: map[string]string{"vip": Token},
		PlaybackKeys: []string{hsKey}, PlaybackPublicKeys: []string{base64.StdEncoding.EncodeToString(pub)}}, c)

	if err := edge.Authorize(offer(""), "demo"); err != nil {
		t.Fatalf("public stream refused: %v", err)
	}
	refusal(t, edge.Authorize(offer(""), "vip"), 401, "missing_token", "playback token")

	sign := func(m jwt.SigningMethod, key any, claims PlaybackClaims) string {
		s, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := jwt.NewNumericDate(c.t.Add(time.Hour))
	hs := sign(jwt.SigningMethodHS256, []byte(hsKey), PlaybackClaims{Stream: "vip", RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}})
	ed := sign(jwt.SigningMethodEdDSA, priv, PlaybackClaims{Stream: "vip", RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}})
	for name, tok := range map[string]string{"HS256": hs, "EdDSA": ed} {
		if err := edge.Authorize(offer(tok), "vip"); err != nil {
			t.Fatalf("%s token refused: %v", name, err)
		}
	}
	other := sign(jwt.SigningMethodHS256, []byte(hsKey), PlaybackClaims{Stream: "demo", RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}})
	refusal(t, edge.Authorize(offer(other), "vip"), 403, "wrong_stream", `for stream "demo"`)
	noExp := sign(jwt.SigningMethodHS256, []byte(hsKey), PlaybackClaims{Stream: "vip"})
	refusal(t, edge.Authorize(offer(noExp), "vip"), 401, "bad_token", "no exp")
	forged := sign(jwt.SigningMethodHS256, []byte("not-the-playback-key!"), PlaybackClaims{Stream: "vip", RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}})
	refusal(t, edge.Authorize(offer(forged), "vip"), 401, "bad_token", "not signed")
	// "none" is never accepted, whatever the claims say.
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, PlaybackClaims{Stream: "vip", RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	refusal(t, edge.Authorize(offer(none), "vip"), 401, "bad_token", "not signed")

	c.t = c.t.Add(2 * time.Hour)
	refusal(t, edge.Authorize(offer(hs), "vip"), 401, "bad_token", "expired")
}

// TestNodeTokenIsNotAPlaybackToken: a playback token signed with a key
// that happens to equal a node secret does not make a viewer a node, and
// a node token opens any stream.
func TestNodeTokenIsNotAPlaybackToken(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	origin := policy(t, Config{NodeSecrets: []string{secretA}, Viewers: Nodes}, c)
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, PlaybackClaims{Stream: "demo",
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(c.t.Add(time.Hour))}}).SignedString([]byte(secretA))
	refusal(t, origin.Authorize(offer(tok), "demo"), 401, "bad_token", "node token refused")

	edgeOnVIP := policy(t, Config{NodeSecrets: []string{secretA}, Viewers: Token, PlaybackKeys: []string{hsKey}}, c)
	nodeTok, _ := edgeOnVIP.NodeToken("edge-2")
	if err := edgeOnVIP.Authorize(offer(nodeTok), "vip"); err != nil {
		t.Fatalf("a downstream edge's node token refused on a token stream: %v", err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Viewers: "everyone"}, "access.viewers"},
		{Config{Viewers: Public, NodeSecrets: []string{"short"}}, "access.node_secrets[0]"},
		{Config{Viewers: Public, Streams: map[string]string{"bad name": Public}}, "access.streams"},
		{Config{Viewers: Public, Streams: map[string]string{"vip": "maybe"}}, "access.streams.vip"},
		{Config{Viewers: Token}, "access.playback_keys"},
		{Config{Viewers: Public, PlaybackPublicKeys: []string{"AAAA"}}, "access.playback_public_keys[0]"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}
