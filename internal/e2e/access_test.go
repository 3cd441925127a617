package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/access"
)

const playbackKey = "e2e-playback-key-0123456789"

func playbackToken(t *testing.T, stream string, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, access.PlaybackClaims{Stream: stream,
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(exp)}}).SignedString([]byte(playbackKey))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestWhoMayWatch: the origin serves its edges only (a viewer who finds it
// is refused, with or without a made-up token), an edge pulls with its
// node token, and a token stream at the edge plays for a viewer with a
// playback token for that stream and for no one else; an open stream on
// the same edge plays for anyone.
func TestWhoMayWatch(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), func(c *edge.Config) {
		c.Access.Streams = map[string]string{"vip": access.Token}
		c.Access.PlaybackKeys = []string{playbackKey}
	})
	for _, name := range []string{"vip", "open"} {
		pub := startFFmpeg(t, encodeArgs(30), publishURL(o, name, pubUser, pubPass))
		waitOnline(t, o, name, pub)
	}

	// The origin, dialled directly by a viewer.
	for _, tok := range []string{"", playbackToken(t, "vip", time.Now().Add(time.Hour))} {
		_, err := dialViewerWith(t, "http://"+o.HTTPAddr()+"/whep/open", tok)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("viewer at the origin (token %v): %v, want 401", tok != "", err)
		}
	}
	if got := o.WHEPSessions("open"); got != 0 {
		t.Fatalf("origin sessions after refusals: %d", got)
	}

	// The token stream at the edge.
	for _, tc := range []struct{ name, tok, want string }{
		{"no token", "", "needs a playback token"},
		{"another stream's token", playbackToken(t, "open", time.Now().Add(time.Hour)), `for stream "open"`},
		{"expired token", playbackToken(t, "vip", time.Now().Add(-time.Minute)), "expired"},
	} {
		if _, err := dialViewerWith(t, "http://"+e.HTTPAddr()+"/whep/vip", tc.tok); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want a refusal saying %q", tc.name, err, tc.want)
		}
	}
	v, err := dialViewerWith(t, "http://"+e.HTTPAddr()+"/whep/vip", playbackToken(t, "vip", time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatalf("viewer with a playback token: %v", err)
	}
	open := mustViewer(t, "http://"+e.HTTPAddr()+"/whep/open")
	// Two streams pulled by one edge from one origin: before pulls had a
	// socket each, the second got nothing until its ICE failed (12 s).
	waitFor(t, 8*time.Second, "both viewers to decode frames", func() bool {
		return v.frames() >= 10 && open.frames() >= 10
	})
	// The edge pulled both streams from the origin with its node token.
	if got := o.WHEPSessions("vip") + o.WHEPSessions("open"); got != 2 {
		t.Fatalf("origin sessions %d, want the edge's 2 pulls", got)
	}
}
