package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// gatedOrder posts an order as the signed-in buyer called buyer with the
// given proof headers and returns the status and the decoded answer.
func gatedOrder(t *testing.T, edgeURL, drop, buyer, key string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", edgeURL+"/v1/drops/"+drop+"/orders", strings.NewReader(`{"sku":"tee","qty":1}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Authorization", signedIn(t).Bearer(buyer))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return getJSON(t, req)
}

func getJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func watchProof(t *testing.T, edgeURL, session, buyer string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", edgeURL+"/v1/watch-proof?session="+url.QueryEscape(session), nil)
	req.Header.Set("Authorization", signedIn(t).Bearer(buyer))
	return getJSON(t, req)
}

// metricSum scrapes a node's /metrics and sums the samples of name whose
// labels contain every given pair.
func metricSum(t *testing.T, base, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = fmt.Fprint(&sb, "")
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	sum := 0.0
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? ([0-9.e+-]+)$`)
	for _, line := range strings.Split(sb.String(), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(m[1], l)
		}
		if ok {
			v, _ := strconv.ParseFloat(m[2], 64)
			sum += v
		}
	}
	return sum
}

// TestWatchTimeGate: a drop that asks 4 s of watch time. A buyer with no
// media session is refused with the message and the seconds left; a pion
// WHEP viewer's proof, asked as soon as its session receives, is too young
// and refused the same way; another buyer cannot borrow the session nor the
// proof; once the session has received the stream 4 s, the order succeeds.
func TestWatchTimeGate(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "POST", ctl+"/v1/drops", demoToken, `{"id":"gated","stream":"demo","gate":{"watch_seconds":4},
		"skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":10}]}`, 201)
	call(t, "POST", ctl+"/v1/drops/gated/open", demoToken, "", 200)
	if body := call(t, "GET", ctl+"/v1/drops/gated", demoToken, "", 200); !strings.Contains(body, `"drop":"gated"`) {
		t.Fatalf("drop totals %s", body)
	}

	// No media session at all.
	st, body := gatedOrder(t, edgeURL, "gated", "nobody", "k0", nil)
	if st != 403 || body["code"] != "watch_required" || body["error"] != "watch the stream for 4 s before buying: 4 s left" || body["seconds_left"] != 4.0 {
		t.Fatalf("order without a media session: %d %v", st, body)
	}
	if st, body := watchProof(t, edgeURL, "0123456789abcdef0123456789abcdef", "nobody"); st != 404 || body["code"] != "no_session" {
		t.Fatalf("proof of a session that does not exist: %d %v", st, body)
	}

	var v *viewer
	waitFor(t, 20*time.Second, "the built-in camera's stream at the edge", func() bool {
		var err error
		v, err = dialViewer(t, edgeURL+"/whep/demo")
		return err == nil
	})
	session := path.Base(v.c.Location())
	var first map[string]any
	waitFor(t, 15*time.Second, "a watch proof of the viewer's session", func() bool {
		st, body := watchProof(t, edgeURL, session, "ann")
		if st == 200 {
			first = body
			return true
		}
		if st != 409 || body["code"] != "not_receiving" {
			t.Fatalf("watch proof: %d %v", st, body)
		}
		return false
	})
	if first["stream"] != "demo" || first["watched_ms"].(float64) >= 4000 {
		t.Fatalf("first proof %v", first)
	}
	young := first["proof"].(string)
	st, body = gatedOrder(t, edgeURL, "gated", "ann", "k1", map[string]string{"Watch-Proof": young})
	left, _ := body["seconds_left"].(float64)
	if st != 403 || body["code"] != "watch_required" || left < 1 || left > 4 ||
		!regexp.MustCompile(`^watch the stream for 4 s before buying: [1-4] s left$`).MatchString(fmt.Sprint(body["error"])) {
		t.Fatalf("order with a young session: %d %v", st, body)
	}

	// The session vouches for ann only; her proof is hers.
	if st, body := watchProof(t, edgeURL, session, "bob"); st != 403 || body["code"] != "session_claimed" {
		t.Fatalf("another buyer's proof of ann's session: %d %v", st, body)
	}

	var proof string
	waitFor(t, 20*time.Second, "4 s of proven watch time", func() bool {
		st, body := watchProof(t, edgeURL, session, "ann")
		if st == 200 && body["watched_ms"].(float64) >= 4000 {
			proof = body["proof"].(string)
			return true
		}
		return false
	})
	if st, body := gatedOrder(t, edgeURL, "gated", "bob", "k2", map[string]string{"Watch-Proof": proof}); st != 403 || body["code"] != "watch_proof_invalid" {
		t.Fatalf("bob with ann's proof: %d %v", st, body)
	}
	st, body = gatedOrder(t, edgeURL, "gated", "ann", "k1", map[string]string{"Watch-Proof": proof})
	if st != 201 || body["buyer"] != signedIn(t).ID("ann") {
		t.Fatalf("order after 4 s of watching: %d %v", st, body)
	}
	// An ungated drop asks nothing.
	callKey(t, edgeURL+"/v1/drops/demo-drop/orders", "k3", `{"sku":"tee","qty":1}`, 201, "nobody")

	for reason, atLeast := range map[string]float64{"watch_missing": 1, "watch_too_young": 1, "watch_other_buyer": 1} {
		if got := metricSum(t, edgeURL, "livedrop_order_gate_refusals_total", `reason="`+reason+`"`); got < atLeast {
			t.Errorf("refusals{reason=%s} = %v, want >= %v", reason, got, atLeast)
		}
	}
	if got := metricSum(t, edgeURL, "livedrop_proofs_issued_total", `kind="watch"`); got < 2 {
		t.Errorf("watch proofs issued %v", got)
	}
	if got := metricSum(t, edgeURL, "livedrop_watch_proofs_denied_total", `reason="session_claimed"`); got != 1 {
		t.Errorf("session_claimed denials %v, want 1", got)
	}
}

// TestViewerPageSolvesProofOfWork: headless Chromium on the viewer page of
// a drop gated by watch time and proof of work: the page solves its
// challenge in its worker, proves its watch time, and buys; the edge
// checked both (its gate counts the order passed and the solve time).
func TestViewerPageSolvesProofOfWork(t *testing.T) {
	addrs, _ := startDemo(t)
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "POST", ctl+"/v1/drops", demoToken, `{"id":"pow","stream":"demo","gate":{"watch_seconds":2,"proof_of_work":true},
		"skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":10}]}`, 201)
	call(t, "POST", ctl+"/v1/drops/pow/open", demoToken, "", 200)

	// Without the page: a proof of work is required.
	if st, body := gatedOrder(t, edgeURL, "pow", "script", "k0", nil); st != 403 || body["code"] != "watch_required" {
		t.Fatalf("bare order: %d %v", st, body)
	}

	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	page, err := b.Open(ctx, edgeURL+"/watch/demo")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	if err := page.WaitFor(ctx, `document.querySelector('[data-testid="status"]').textContent.trim() === "playing"`, 30*time.Second); err != nil {
		t.Fatalf("viewer page not playing: %v (console %v)", err, page.Console())
	}
	// A drop asking 10 minutes of watch time: the tap is refused, and the
	// buyer reads why and how long is left.
	call(t, "POST", ctl+"/v1/drops", demoToken, `{"id":"long","stream":"demo","gate":{"watch_seconds":600,"proof_of_work":true},
		"skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":10}]}`, 201)
	call(t, "POST", ctl+"/v1/drops/long/open", demoToken, "", 200)
	var pinned struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal([]byte(call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"long","sku":"tee"}`, 201)), &pinned)
	// Proofs vouch for a signed-in buyer: this one continues as a guest.
	if err := page.Eval(ctx, `(window.livedrop.signIn(), true)`, nil); err != nil {
		t.Fatal(err)
	}
	if err := page.Click(ctx, `[data-testid="signin-guest"]`); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `!!window.livedrop.buyer()`, 10*time.Second); err != nil {
		t.Fatalf("guest sign-in: %v (console %v)", err, page.Console())
	}
	if err := page.WaitFor(ctx, `!!document.querySelector('[data-testid="buy"]') && !!window.livedrop.proofs().watch`, 15*time.Second); err != nil {
		t.Fatalf("no Buy button or no watch proof: %v", err)
	}
	if err := page.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `/^watch the stream for 600 s before buying: \d+ s left$/.test(document.querySelector('[data-testid="order-status"]').textContent.trim())`, 15*time.Second); err != nil {
		st, _ := page.Text(ctx, `[data-testid="order-status"]`)
		t.Fatalf("refusal reads %q: %v", st, err)
	}
	call(t, "DELETE", ctl+"/v1/streams/demo/overlays/"+pinned.ID, demoToken, "", 204)
	if err := page.WaitFor(ctx, `!document.querySelector('[data-testid="product-card"]')`, 10*time.Second); err != nil {
		t.Fatal("card still shown after unpin")
	}

	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"pow","sku":"tee"}`, 201)
	if err := page.WaitFor(ctx, `!!document.querySelector('[data-testid="buy"]')`, 15*time.Second); err != nil {
		t.Fatalf("no Buy button: %v", err)
	}
	if err := page.WaitFor(ctx, `(() => { const s = window.livedrop.proofs(); return !!s.pow && !!s.watch && s.watch.watchedMs >= 2000; })()`, 30*time.Second); err != nil {
		var s any
		_ = page.Eval(ctx, `window.livedrop.proofs()`, &s)
		t.Fatalf("page has no solved challenge and 2 s of watch proof: %v (state %v, console %v)", err, s, page.Console())
	}
	var pow struct {
		Ms   float64 `json:"ms"`
		Bits float64 `json:"bits"`
	}
	if err := page.Eval(ctx, `window.livedrop.proofs().pow`, &pow); err != nil {
		t.Fatal(err)
	}
	t.Logf("Chromium solved a %v-bit challenge in %v ms", pow.Bits, pow.Ms)
	if err := page.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `/Order confirmed/.test(document.querySelector('[data-testid="order-status"]').textContent)`, 15*time.Second); err != nil {
		st, _ := page.Text(ctx, `[data-testid="order-status"]`)
		t.Fatalf("no confirmation: status %q: %v (console %v)", st, err, page.Console())
	}
	if got := metricSum(t, edgeURL, "livedrop_order_gate_passed_total"); got != 1 {
		t.Fatalf("gate passed %v orders, want the page's 1", got)
	}
	if got := metricSum(t, edgeURL, "livedrop_pow_solve_seconds_count"); got != 1 {
		t.Fatalf("solve times reported %v, want 1", got)
	}
	if got := metricSum(t, edgeURL, "livedrop_order_gate_refusals_total", `reason="watch_too_young"`); got != 1 {
		t.Fatalf("too-young refusals %v, want the 600 s drop's 1", got)
	}
	if got := metricSum(t, edgeURL, "livedrop_proofs_issued_total", `kind="pow"`); got < 1 {
		t.Fatalf("challenges issued %v", got)
	}
	if got := metricSum(t, edgeURL, "livedrop_pow_difficulty_bits"); got != pow.Bits {
		t.Fatalf("difficulty gauge %v, the page solved %v bits", got, pow.Bits)
	}
}
