package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/whep"
	"github.com/livedrop/livedrop/overlay"
)

// TestGiveawayDrawStampedOnTheStream: a giveaway the seller starts and
// draws at the demo's origin reaches a WHEP viewer of its stream at the
// edge as "giveaway" overlay events stamped with the stream's media clock:
// the start with the seed's hash, the draw with the masked winner (the
// viewer who entered through the edge with its watch proof) and the seed,
// which reproduces the commitment and the winner.
func TestGiveawayDrawStampedOnTheStream(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP

	msgs := make(chan arrival, 256)
	var lastVideo atomic.Int64 // RTP timestamp of the last video packet; -1: none yet
	lastVideo.Store(-1)
	api, _, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	var c *whep.Client
	waitFor(t, 30*time.Second, "the demo's stream at the edge", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, err = whep.Dial(ctx, whep.ClientParams{API: api, HTTP: &http.Client{Timeout: 10 * time.Second}, URL: edgeURL + "/whep/demo",
			OnPacket: func(k stream.Kind, p *rtp.Packet) {
				if k == stream.Video {
					lastVideo.Store(int64(p.Timestamp))
				}
			},
			OnEvent: func(b []byte) {
				m, err := overlay.DecodeMessage(b)
				if err != nil {
					return // not an overlay message (the node's own notes)
				}
				select {
				case msgs <- arrival{m, time.Now()}:
				default:
					t.Errorf("viewer queue full")
				}
			}})
		return err == nil
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	next := func(typ string, within time.Duration) arrival {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case a := <-msgs:
				if a.m.Type == typ {
					return a
				}
			case <-deadline:
				t.Fatalf("no %s message at the viewer within %v", typ, within)
			}
		}
	}
	next(overlay.TypeState, 10*time.Second)
	waitFor(t, 30*time.Second, "the demo's video at the viewer", func() bool { return lastVideo.Load() >= 0 })

	// The viewer's buyer proves it is watching (its media session).
	const who = "giveaway-viewer"
	session := path.Base(c.Location())
	var proof string
	waitFor(t, 15*time.Second, "a watch proof of the viewer's session", func() bool {
		st, body := watchProof(t, edgeURL, session, who)
		proof, _ = body["proof"].(string)
		return st == 200 && proof != ""
	})

	var started giveaway.View
	if err := json.Unmarshal([]byte(call(t, "POST", ctl+"/v1/giveaways", demoToken,
		`{"id":"onstream","stream":"demo","rule":"present","prize":{"name":"Signed cap"}}`, 201)), &started); err != nil {
		t.Fatal(err)
	}
	a := next(overlay.TypeGiveaway, 10*time.Second)
	if g := a.m.Giveaway; g.ID != "onstream" || g.State != overlay.GiveawayOpen || g.Commitment != started.Commitment ||
		g.Prize != "Signed cap" || g.Seed != "" {
		t.Fatalf("started giveaway reads %+v, want commitment %s", *g, started.Commitment)
	}
	if a.m.MediaTS == nil {
		t.Fatal("the start's giveaway event carries no media_ts: not frame-stamped")
	}

	req, _ := http.NewRequest("POST", edgeURL+"/v1/giveaways/onstream/entries", nil)
	req.Header.Set("Authorization", signedIn(t).Bearer(who))
	req.Header.Set("Watch-Proof", proof)
	if st, body := getJSON(t, req); st != 200 || body["new"] != true {
		t.Fatalf("entry with the viewer's watch proof: %d %v", st, body)
	}
	req, _ = http.NewRequest("POST", edgeURL+"/v1/giveaways/onstream/entries", nil)
	req.Header.Set("Authorization", signedIn(t).Bearer("giveaway-absent"))
	if st, body := getJSON(t, req); st != 403 || body["why"] != "not_watching" {
		t.Fatalf("entry without watching: %d %v, want 403 not_watching", st, body)
	}

	sent := time.Now()
	call(t, "POST", ctl+"/v1/giveaways/onstream/draw", demoToken, "", 200)
	a = next(overlay.TypeGiveaway, 10*time.Second)
	t.Logf("draw to stamped giveaway event at the viewer: %v", a.at.Sub(sent))
	if lag := a.at.Sub(sent); lag > 2*time.Second {
		t.Fatalf("the draw reached the viewer %v after it was asked, want within 2s", lag)
	}
	g := a.m.Giveaway
	winner := signedIn(t).ID(who)
	if g.ID != "onstream" || g.State != overlay.GiveawayDrawn || g.Winner != giveaway.Mask(winner) || g.Entrants != 1 ||
		strings.Contains(string(mustJSON(t, g)), winner) {
		t.Fatalf("drawn giveaway reads %+v, want the winner %s masked", *g, winner)
	}
	seed, err := hex.DecodeString(g.Seed)
	if err != nil || !giveaway.Verify("onstream", started.Commitment, seed, []string{winner}, winner) ||
		g.EntrantsDigest != giveaway.EntrantsDigest([]string{winner}) {
		t.Fatalf("the stamped seed %q and digest do not reproduce the draw (%v)", g.Seed, err)
	}
	if a.m.MediaTS == nil {
		t.Fatal("the draw's giveaway event carries no media_ts: not frame-stamped")
	}
	// Stamped on the timeline of the video this viewer receives (90 kHz).
	if d := int32(*a.m.MediaTS - uint32(lastVideo.Load())); d < -3*90000 || d > 3*90000 {
		t.Fatalf("giveaway media_ts %d is %d ticks from the viewer's video: not the frame on screen", *a.m.MediaTS, d)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGiveawayWinnerStampedInChromium: the viewer page in headless
// Chromium, signed in and watching the demo's stream, shows a giveaway the
// seller starts from its stamped event, enters it in one tap, and after the
// draw shows "You won!" from the stamped draw event applied on (or after)
// the frame it was stamped for, the seed checked in the browser.
func TestGiveawayWinnerStampedInChromium(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	ctx, p := watchInChromium(t, edgeURL+"/watch/demo", 150*time.Second)
	const who = "web-giveaway-winner"
	sess := mustJSON(t, map[string]string{"session": signedIn(t).Token(who), "buyer": signedIn(t).ID(who), "kind": "guest",
		"device": "test-device-0", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	var ok bool
	if err := p.Eval(ctx, `localStorage.setItem('livedrop.session', `+string(mustJSON(t, string(sess)))+`), true`, &ok); err != nil {
		t.Fatal(err)
	}
	if err := p.Navigate(ctx, edgeURL+"/watch/demo"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, `document.querySelector('[data-testid="status"]').textContent.trim() === "playing" && !!window.livedrop.lastFrameRtpTimestamp()`, 30*time.Second); err != nil {
		t.Fatalf("viewer page not playing: %v (console %v)", err, p.Console())
	}
	var started giveaway.View
	if err := json.Unmarshal([]byte(call(t, "POST", ctl+"/v1/giveaways", demoToken,
		`{"id":"webgive","stream":"demo","rule":"present","prize":{"name":"Signed cap"}}`, 201)), &started); err != nil {
		t.Fatal(err)
	}
	text := func(name string) string {
		return `document.querySelector('[data-testid="giveaway-` + name + `"]').textContent`
	}
	onFrame := `window.livedrop.applied().some((a) => a.type === 'giveaway' && a.id === 'webgive' && a.mediaTs !== undefined && a.frameTs !== null &&
		((a.frameTs - a.mediaTs) >>> 0) < 0x80000000)`
	if err := p.WaitFor(ctx, `!document.querySelector('[data-testid="giveaway"]').hidden && `+text("prize")+` === 'Signed cap' && `+
		text("hash")+`.includes('`+started.Commitment[:16]+`') && `+onFrame, 15*time.Second); err != nil {
		t.Fatalf("no giveaway card from the stamped start: %v (console %v)", err, p.Console())
	}
	// The page's watch proof comes once its session has received the stream.
	if err := p.WaitFor(ctx, `(() => { const s = window.livedrop.proofs(); return !!(s && s.watch && s.watch.proof); })()`, 20*time.Second); err != nil {
		t.Fatalf("no watch proof on the page: %v", err)
	}
	if err := p.Click(ctx, `[data-testid="giveaway-enter"]`); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, text("status")+` === "You're in. Good luck!"`, 10*time.Second); err != nil {
		got, _ := p.Text(ctx, `[data-testid="giveaway-status"]`)
		t.Fatalf("after the tap the card reads %q: %v", got, err)
	}
	call(t, "POST", ctl+"/v1/giveaways/webgive/draw", demoToken, "", 200)
	cond := text("winner") + `.startsWith('You won!') && document.querySelector('[data-testid="giveaway-winner"]').dataset.source === 'stamped' && ` +
		`document.querySelector('[data-testid="giveaway-check"]').dataset.ok === 'true' && ` +
		`window.livedrop.applied().filter((a) => a.type === 'giveaway' && a.id === 'webgive').length >= 2 && ` + onFrame
	if err := p.WaitFor(ctx, cond, 15*time.Second); err != nil {
		var applied any
		_ = p.Eval(ctx, `window.livedrop.applied()`, &applied)
		got, _ := p.Text(ctx, `[data-testid="giveaway"]`)
		t.Fatalf("after the draw the card reads %q, not the stamped winner checked: %v (applied %v, console %v)", got, err, applied, p.Console())
	}
}
