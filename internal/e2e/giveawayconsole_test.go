package e2e

import (
	"context"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestConsoleStartsAndDrawsAGiveaway: in the demo's seller console, in
// headless Chromium, the seller picks a drop's product as the prize, the
// rule and pickup, and presses Start: the panel shows the seed's hash; a
// viewer watching at the edge enters and the panel counts the entry; Draw
// shows the winner (masked and in full), the revealed seed that reproduces
// the hash and the draw, and the winner's prize order.
func TestConsoleStartsAndDrawsAGiveaway(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "POST", ctl+"/v1/drops", demoToken, `{"id":"capdrop","stream":"demo",
		"skus":[{"sku":"cap","name":"Signed cap","price_cents":2500,"currency":"EUR","stock":10}]}`, 201)

	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	page, err := b.Open(ctx, ctl+"/console")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	tid := func(id string) string { return `[data-testid="` + id + `"]` }
	q := func(id string) string { return `document.querySelector('` + tid(id) + `')` }
	if err := page.Type(ctx, tid("token"), demoToken); err != nil {
		t.Fatal(err)
	}
	if err := page.Click(ctx, tid("login")); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `!`+q("desk")+`.hidden`, 20*time.Second); err != nil {
		t.Fatalf("no desk after login (console %v): %v", page.Console(), err)
	}
	// The prize: the drop's product, from the list the panel loads.
	if err := page.Eval(ctx, q("giveaway-product")+`.focus()`, nil); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `Array.from(`+q("giveaway-product")+`.options).some((o) => o.textContent === 'Signed cap (capdrop/cap)')`, 10*time.Second); err != nil {
		t.Fatalf("the drop's product is not offered as a prize: %v", err)
	}
	if err := page.Eval(ctx, `(() => { const s = `+q("giveaway-product")+`; s.value = 'Signed cap'; s.dispatchEvent(new Event('change'));
		const r = `+q("giveaway-fulfilment")+`; r.value = 'pickup'; r.dispatchEvent(new Event('change')); })()`, nil); err != nil {
		t.Fatal(err)
	}
	if err := page.Type(ctx, tid("giveaway-id"), "consolecap"); err != nil {
		t.Fatal(err)
	}
	if err := page.Click(ctx, tid("giveaway-start")); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, q("giveaway-state")+`.textContent === 'consolecap: open' && /^[0-9a-f]{64}$/.test(`+q("giveaway-commitment")+`.textContent)`, 10*time.Second); err != nil {
		msg, _ := page.Text(ctx, tid("giveaway-error"))
		t.Fatalf("no started giveaway in the panel (%q): %v", msg, err)
	}
	commitment, _ := page.Text(ctx, tid("giveaway-commitment"))
	if st, body := getJSONURL(t, edgeURL+"/v1/giveaways/consolecap"); st != 200 || body["prize"] != "Signed cap" || body["commitment"] != commitment {
		t.Fatalf("the edge reads the console's giveaway as %d %v", st, body)
	}

	// A viewer watching at the edge enters.
	var v *viewer
	waitFor(t, 30*time.Second, "the demo's stream at the edge", func() bool {
		var err error
		v, err = dialViewer(t, edgeURL+"/whep/demo")
		return err == nil
	})
	const who = "console-giveaway-viewer"
	var proof string
	waitFor(t, 15*time.Second, "a watch proof of the viewer's session", func() bool {
		st, body := watchProof(t, edgeURL, path.Base(v.c.Location()), who)
		proof, _ = body["proof"].(string)
		return st == 200 && proof != ""
	})
	enter(t, edgeURL, "consolecap", who, proof, 200)
	if err := page.WaitFor(ctx, q("giveaway-entrants")+`.textContent === '1'`, 10*time.Second); err != nil {
		t.Fatalf("the panel does not count the entry: %v", err)
	}

	if err := page.Click(ctx, tid("giveaway-draw")); err != nil {
		t.Fatal(err)
	}
	winner := signedIn(t).ID(who)
	if err := page.WaitFor(ctx, q("giveaway-state")+`.textContent === 'consolecap: drawn' && `+q("giveaway-draw")+`.disabled`, 10*time.Second); err != nil {
		msg, _ := page.Text(ctx, tid("giveaway-error"))
		t.Fatalf("not drawn (%q): %v", msg, err)
	}
	if got, _ := page.Text(ctx, tid("giveaway-winner")); got != giveaway.Mask(winner)+" ("+winner+")" {
		t.Fatalf("winner shown %q, want %s and the buyer id", got, giveaway.Mask(winner))
	}
	seedHex, _ := page.Text(ctx, tid("giveaway-seed"))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(seedHex) {
		t.Fatalf("seed shown %q", seedHex)
	}
	if !giveaway.Verify("consolecap", commitment, mustHexBytes(t, seedHex), []string{winner}, winner) {
		t.Fatalf("the seed shown does not reproduce the hash %s and the draw", commitment)
	}
	if got, _ := page.Text(ctx, tid("giveaway-order")); got != giveaway.OrderID("consolecap", winner) {
		t.Fatalf("prize order shown %q, want %q", got, giveaway.OrderID("consolecap", winner))
	}
	if msg, _ := page.Text(ctx, tid("giveaway-error")); !strings.Contains(msg, "wins") {
		t.Fatalf("panel says %q after the draw", msg)
	}
}
