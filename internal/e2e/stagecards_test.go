package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/auction"
)

// TestStageCardsTakeTapsOverTheVideo: on a 360 px phone in headless
// Chromium, with a product card pinned and a live lot and a giveaway on the
// stream, the auction and giveaway cards sit over the video and are what a
// tap at their buttons reaches (not the overlay layer, not the video): a
// real mouse click (Input.dispatchMouseEvent) at the Bid button's
// coordinates bids, and one at the product card's Buy button still buys.
func TestStageCardsTakeTapsOverTheVideo(t *testing.T) {
	ctl, edgeURL := demoWithLot(t, "tapped")
	call(t, "POST", ctl+"/v1/giveaways", demoToken, `{"id":"tapgive","stream":"demo","rule":"present","prize":{"name":"Cap"}}`, 201)

	ctx, p := watchInChromium(t, edgeURL+"/watch/demo", 150*time.Second)
	if err := p.SetViewport(ctx, 360, 740); err != nil {
		t.Fatal(err)
	}
	const who = "stage-tapper"
	sess := mustJSON(t, map[string]string{"session": signedIn(t).Token(who), "buyer": signedIn(t).ID(who), "kind": "guest",
		"device": "test-device-1", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	if err := p.Eval(ctx, `localStorage.setItem('livedrop.session', `+string(mustJSON(t, string(sess)))+`), true`, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Navigate(ctx, edgeURL+"/watch/demo?lot=tapped"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, `document.querySelector('[data-testid="status"]').textContent.trim() === "playing"`, 30*time.Second); err != nil {
		t.Fatalf("viewer page not playing: %v (console %v)", err, p.Console())
	}
	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"demo-drop","sku":"tee"}`, 201)
	shown := `!!document.querySelector('[data-testid="product-card"]') && !document.querySelector('[data-testid="auction"]').hidden &&
		!document.querySelector('[data-testid="giveaway"]').hidden && document.querySelector('[data-testid="auction-price"]').textContent === 'No bids yet'`
	if err := p.WaitFor(ctx, shown, 15*time.Second); err != nil {
		t.Fatalf("the product, auction and giveaway cards are not all shown: %v (console %v)", err, p.Console())
	}
	if dir := os.Getenv("LIVEDROP_ARTIFACTS"); dir != "" {
		_ = p.Screenshot(ctx, filepath.Join(dir, "watch-stage-cards-360.png"))
	}

	// tapAt clicks the centre of sel with real mouse events, after checking
	// the point is over the video and that sel is what is on top there.
	tapAt := func(sel string) {
		t.Helper()
		x, y, err := p.Center(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		var hit struct {
			Top       bool
			OverVideo bool
			Name      string
		}
		js := fmt.Sprintf(`(() => { const want = document.querySelector(%q); const at = document.elementFromPoint(%f, %f);
		  const v = document.querySelector('[data-testid="video"]').getBoundingClientRect();
		  return { top: !!at && (at === want || want.contains(at)), name: at ? (at.dataset.testid || at.className || at.tagName) : '',
		    overVideo: %f >= v.left && %f <= v.right && %f >= v.top && %f <= v.bottom }; })()`, sel, x, y, x, x, y, y)
		if err := p.Eval(ctx, js, &hit); err != nil {
			t.Fatal(err)
		}
		if !hit.OverVideo || !hit.Top {
			var boxes string
			_ = p.Eval(ctx, `['video', 'product-card', 'auction', 'giveaway'].map((id) => { const r = document.querySelector('[data-testid="' + id + '"]').getBoundingClientRect();
			  return id + ' ' + [r.left, r.top, r.width, r.height].map(Math.round).join(','); }).join('; ')`, &boxes)
			t.Fatalf("%s at (%.0f, %.0f): over the video %v, on top %v (what is there: %q; boxes %s)", sel, x, y, hit.OverVideo, hit.Top, hit.Name, boxes)
		}
		if err := p.ClickAt(ctx, x, y); err != nil {
			t.Fatal(err)
		}
	}

	tapAt(`[data-testid="auction-bid"]`)
	leader := auction.Mask(signedIn(t).ID(who))
	if err := p.WaitFor(ctx, `document.querySelector('[data-testid="auction-status"]').textContent === 'You lead' &&
		document.querySelector('[data-testid="auction-leader"]').textContent === 'leading: `+leader+`'`, 10*time.Second); err != nil {
		got, _ := p.Text(ctx, `[data-testid="auction"]`)
		t.Fatalf("the tap at Bid did not bid: the card reads %q: %v", got, err)
	}
	var lot auction.Update
	if err := getInto(edgeURL+"/v1/lots/tapped", &lot); err != nil || lot.Bids != 1 || lot.PriceCents != 1000 || lot.Leader != leader {
		t.Fatalf("the edge's lot after the tap: %+v %v, want one bid of 1000 by %s", lot, err, leader)
	}

	tapAt(`[data-testid="buy"]`)
	if err := p.WaitFor(ctx, `/Order confirmed/.test(document.querySelector('[data-testid="order-status"]').textContent)`, 15*time.Second); err != nil {
		st, _ := p.Text(ctx, `[data-testid="order-status"]`)
		t.Fatalf("the tap at Buy did not buy: status %q: %v", st, err)
	}
}

func getInto(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
