package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/redistest"
)

// TestDrainedEdgeMovesItsViewers: an origin process and two edge processes
// that list each other as siblings, ffmpeg as the camera, Redis behind
// checkout. A viewer page in headless Chromium plays at edge A, signs in
// as a guest and shows a product card. Edge A gets SIGTERM: the page is
// told to move, plays from edge B without a reload (the same document,
// video decoding on a session at B), A exits 0 once the viewer has left,
// and the page's Buy then orders through B. The drop asks 8 s of watch
// time, watched at A: the page carries its proof over, so the buyer can buy
// at once at B, whose session is younger than that. Buyers keep buying
// another drop through A while it drains (moving to B when A stops
// answering, with the same key): every order answered 201 is in the
// store, none twice, and A's lease went back.
func TestDrainedEdgeMovesItsViewers(t *testing.T) {
	rdb := redistest.Start(t, redistest.Options{})
	const token = "move-test-token-0123456"
	loopback := func() string { return fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)) }
	origin := startOriginProcess(t, map[string]string{"LIVEDROP_REDIS_URL": rdb.URL(), "LIVEDROP_CONTROL_TOKEN": token})
	pub := startFFmpeg(t, encodeArgs(30), fmt.Sprintf("rtsp://%s:%s@%s/cam", pubUser, pubPass, origin.ports["LIVEDROP_RTSP_ADDR"]))
	t.Cleanup(pub.stop)

	// The edges name each other, so their addresses are picked first.
	addrA, addrB := loopback(), loopback()
	siblings := "http://" + addrA + ",http://" + addrB // one list for the region
	startEdgeAt := func(id, addr string) *node {
		fixed := map[string]string{"LIVEDROP_HTTP_ADDR": addr, "LIVEDROP_ICE_UDP_PORT": fmt.Sprint(freeUDPPort(t))}
		return startNode(t, "edge", map[string]string{
			"LIVEDROP_ORIGIN_URL": origin.url, "LIVEDROP_REDIS_URL": rdb.URL(), "LIVEDROP_NODE_SECRET": nodeSecret,
			"LIVEDROP_REGION": "eu-test", "LIVEDROP_NODE_ID": id, "LIVEDROP_DATA_DIR": t.TempDir(),
			"LIVEDROP_SESSION_SECRET": buyertest.Secret,
			"LIVEDROP_SIBLINGS":       siblings, "LIVEDROP_PUBLIC_URL": "http://" + addr,
		}, func() map[string]string { return fixed })
	}
	edgeA, edgeB := startEdgeAt("edge-a", addrA), startEdgeAt("edge-b", addrB)

	call(t, "POST", origin.url+"/v1/drops", token, `{"id":"mv","stream":"cam","gate":{"watch_seconds":8},"skus":[{"sku":"tee","name":"Tee","price_cents":900,"currency":"EUR","stock":5}]}`, 201)
	call(t, "POST", origin.url+"/v1/drops/mv/open", token, "", 200)
	call(t, "POST", origin.url+"/v1/drops", token, `{"id":"rush","stream":"cam","skus":[{"sku":"cap","name":"Cap","price_cents":500,"currency":"EUR","stock":1000}]}`, 201)
	call(t, "POST", origin.url+"/v1/drops/rush/open", token, "", 200)
	call(t, "POST", origin.url+"/v1/streams/cam/overlays", token, `{"type":"product","drop":"mv","sku":"tee"}`, 201)

	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	page, err := b.Open(ctx, edgeA.url+"/watch/cam")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	if err := page.WaitFor(ctx, `document.querySelector('[data-testid="status"]').textContent.trim() === "playing"`, 40*time.Second); err != nil {
		t.Fatalf("viewer page not playing at edge A: %v (console %v)", err, page.Console())
	}
	if err := page.Eval(ctx, `(window.livedrop.signIn(), window.notReloaded = true)`, nil); err != nil {
		t.Fatal(err)
	}
	if err := page.Click(ctx, `[data-testid="signin-guest"]`); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `!!window.livedrop.buyer() && !!document.querySelector('[data-testid="buy"]')`, 15*time.Second); err != nil {
		t.Fatalf("no guest session or no Buy button: %v (console %v)", err, page.Console())
	}
	if err := page.WaitFor(ctx, `(() => { const w = window.livedrop.proofs().watch; return !!w && w.watchedMs >= 8000; })()`, 30*time.Second); err != nil {
		t.Fatalf("no 8 s watch proof at edge A: %v", err)
	}
	var before string
	if err := page.Eval(ctx, `window.livedrop.session()`, &before); err != nil || !strings.HasPrefix(before, edgeA.url+"/whep/cam/") {
		t.Fatalf("session before the drain %q (%v), want one at %s", before, err, edgeA.url)
	}

	// Buyers of the other drop, at A first; one that gets no answer or a
	// 503 asks B with the same key, as a client does.
	var (
		bmu    sync.Mutex
		acked  = map[string]string{} // key -> order id
		bstop  = make(chan struct{})
		bdone  = make(chan struct{})
		client = &http.Client{Timeout: 5 * time.Second}
	)
	go func() {
		defer close(bdone)
		for i := 0; ; i++ {
			select {
			case <-bstop:
				return
			default:
			}
			key, who := fmt.Sprintf("rush-%d", i), fmt.Sprintf("rusher-%d", i)
			for try, at := 0, edgeA.url; try < 20; try++ {
				req, _ := http.NewRequest("POST", at+"/v1/drops/rush/orders", strings.NewReader(`{"sku":"cap","qty":1}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", key)
				req.Header.Set("Authorization", signedIn(t).Bearer(who))
				if try > 0 {
					req.Header.Set("Idempotency-Retry", "1")
				}
				resp, err := client.Do(req)
				if err != nil {
					at = edgeB.url
					continue
				}
				var o struct {
					ID string `json:"id"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&o)
				resp.Body.Close()
				if resp.StatusCode == 201 || resp.StatusCode == 200 {
					bmu.Lock()
					acked[key] = o.ID
					bmu.Unlock()
					break
				}
				at = edgeB.url // 503 (draining, held) or anything else: the other edge
			}
		}
	}()
	waitFor(t, 15*time.Second, "buyers buying at edge A", func() bool {
		return metricSum(t, edgeA.url, "livedrop_checkout_orders_total", `result="accepted"`) >= 5
	})

	// SIGTERM edge A; its drain waits for the viewer to move.
	exited := make(chan error, 1)
	go func() { exited <- edgeA.cmd.Process.Signal(syscall.SIGTERM) }()
	moved := fmt.Sprintf(`window.notReloaded === true && window.livedrop.moves() === 1 && window.livedrop.base() === %q &&
		(window.livedrop.session() || '').startsWith(%q) && window.livedrop.status() === 'playing'`, edgeB.url+"/", edgeB.url+"/whep/cam/")
	if err := page.WaitFor(ctx, moved, 20*time.Second); err != nil {
		var st any
		_ = page.Eval(ctx, `({base: window.livedrop.base(), moves: window.livedrop.moves(), session: window.livedrop.session(), status: window.livedrop.status(), same: window.notReloaded})`, &st)
		t.Fatalf("page did not move to edge B: %v (state %v, console %v)", err, st, page.Console())
	}
	movedAt := time.Now()
	if err := <-exited; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-edgeA.done:
		if err != nil {
			t.Fatalf("edge A after SIGTERM: %v\n%s", err, edgeA.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("edge A did not exit after SIGTERM\n%s", edgeA.logs.String())
	}
	if logs := edgeA.logs.String(); !strings.Contains(logs, `msg="viewers moved"`) || !strings.Contains(logs, ` told=1 moved=1 `) {
		t.Fatalf("edge A's log does not say its one viewer moved:\n%s", logs)
	}
	// Video keeps decoding at B.
	var f0 float64
	if err := page.Eval(ctx, `window.livedrop.framesDecoded()`, &f0); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, fmt.Sprintf(`window.livedrop.framesDecoded().then((n) => n > %v + 30)`, f0), 15*time.Second); err != nil {
		t.Fatalf("video does not decode at edge B: %v", err)
	}

	// Buy: through B (A is gone), with the session A signed, before B's
	// media session is 8 s old.
	if young := time.Since(movedAt); young > 6*time.Second {
		t.Fatalf("the page took %v to decode at B: too late to show the watch time carried over", young)
	}
	if err := page.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `/Order confirmed/.test(document.querySelector('[data-testid="order-status"]').textContent)`, 20*time.Second); err != nil {
		st, _ := page.Text(ctx, `[data-testid="order-status"]`)
		var ps any
		_ = page.Eval(ctx, `window.livedrop.proofs()`, &ps)
		t.Fatalf("no confirmation after the move: %q: %v (proofs %v, console %v)\nedge B:\n%s", st, err, ps, page.Console(), edgeB.logs.String())
	}
	var totals struct {
		SKUs []struct {
			Sold int `json:"sold"`
		} `json:"skus"`
	}
	waitFor(t, 15*time.Second, "the order in the drop's totals", func() bool {
		_ = json.Unmarshal([]byte(call(t, "GET", origin.url+"/v1/drops/mv", token, "", 200)), &totals)
		return len(totals.SKUs) == 1 && totals.SKUs[0].Sold == 1
	})
	close(bstop)
	<-bdone
	bmu.Lock()
	defer bmu.Unlock()
	ids := map[string]bool{}
	for _, id := range acked {
		if ids[id] {
			t.Fatalf("two keys were answered with order %s", id)
		}
		ids[id] = true
	}
	st, err := checkout.OpenRedisStore(context.Background(), rdb.URL(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for key, id := range acked {
		o, err := st.Order(context.Background(), id)
		if err != nil || o.Status == checkout.StatusCancelled {
			t.Fatalf("order %s answered 201 (key %s) is not live in the store: %+v %v", id, key, o, err)
		}
	}
	var rush struct {
		SKUs []struct {
			Sold int `json:"sold"`
		} `json:"skus"`
	}
	waitFor(t, 15*time.Second, "the buyers' orders in the totals", func() bool {
		_ = json.Unmarshal([]byte(call(t, "GET", origin.url+"/v1/drops/rush", token, "", 200)), &rush)
		return len(rush.SKUs) == 1 && rush.SKUs[0].Sold == len(acked)
	})
	view, err := st.View(context.Background(), "rush", "edge-a", []string{"cap"})
	if err != nil || view.SKUs["cap"].MyLease != 0 {
		t.Fatalf("edge A's lease after its drain: %+v %v", view, err)
	}
	t.Logf("%d orders answered 201 across the drain, %v of them at B", len(acked), metricSum(t, edgeB.url, "livedrop_checkout_orders_total", `result="accepted"`))
}
