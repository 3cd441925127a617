package chrometest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// orderRequest is one POST /v1/drops/{drop}/orders the fake edge saw.
type orderRequest struct {
	path, key, contentType string
	auth                   string // the Authorization header
	retry                  bool   // marked Idempotency-Retry: 1
	at                     time.Time
	body                   map[string]any
}

// heldReply is a reply queued with fakeEdge.reply: 503 "held, try again",
// as an edge answers while other edges hold the last units.
const heldReply = -503

// fakeEdge adds to a fake WHEP server what an edge serves the viewer page
// besides video: the events WebSocket and the orders endpoint.
type fakeEdge struct {
	t   *testing.T
	srv string

	mu      sync.Mutex
	initial [][]byte          // sent to every new events connection
	conns   []*websocket.Conn // open events connections
	wmu     sync.Mutex        // serializes writes
	wsCount int
	orders  []orderRequest
	replies []int // statuses for the next orders; 201 when empty
}

func newFakeEdge(t *testing.T, mux *http.ServeMux, srvURL string) *fakeEdge {
	e := &fakeEdge{t: t, srv: srvURL}
	mux.HandleFunc("GET /v1/streams/{stream}/events", e.serveEvents)
	mux.HandleFunc("POST /v1/drops/{drop}/orders", e.serveOrder)
	mux.HandleFunc("POST /v1/signin/guest", e.serveGuest)
	return e
}

// fakeSession is the session the fake edge's guest sign-in hands out.
const fakeSession = "fake-guest-session"

func (e *fakeEdge) serveGuest(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Device string `json:"device"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&b)
	w.Header().Set("Content-Type", "application/json")
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`).MatchString(b.Device) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"device","code":"invalid"}`)
		return
	}
	fmt.Fprintf(w, `{"session":%q,"buyer":"g-fakeguestfakeguestfakeguest","device":%q,"kind":"guest","expires_at":%q}`,
		fakeSession, b.Device, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
}

var upgrader = websocket.Upgrader{
	// Like the real edge: only pages of this host may connect.
	CheckOrigin: func(r *http.Request) bool {
		u, err := url.Parse(r.Header.Get("Origin"))
		return err == nil && u.Host == r.Host
	},
}

func (e *fakeEdge) serveEvents(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	e.mu.Lock()
	e.wsCount++
	initial := e.initial
	e.conns = append(e.conns, c)
	e.mu.Unlock()
	e.wmu.Lock()
	for _, m := range initial {
		_ = c.WriteMessage(websocket.TextMessage, m)
	}
	e.wmu.Unlock()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			break
		}
	}
	e.mu.Lock()
	for i, x := range e.conns {
		if x == c {
			e.conns = append(e.conns[:i], e.conns[i+1:]...)
			break
		}
	}
	e.mu.Unlock()
	c.Close()
}

// setInitial sets what a new events connection receives first.
func (e *fakeEdge) setInitial(msgs ...any) {
	var raw [][]byte
	for _, m := range msgs {
		raw = append(raw, mustJSON(e.t, m))
	}
	e.mu.Lock()
	e.initial = raw
	e.mu.Unlock()
}

// broadcast sends msg to every open events connection and returns how many.
func (e *fakeEdge) broadcast(msg any) int {
	raw := mustJSON(e.t, msg)
	e.mu.Lock()
	conns := append([]*websocket.Conn(nil), e.conns...)
	e.mu.Unlock()
	e.wmu.Lock()
	defer e.wmu.Unlock()
	for _, c := range conns {
		_ = c.WriteMessage(websocket.TextMessage, raw)
	}
	return len(conns)
}

// dropConnections closes every events connection, as a restarting edge would.
func (e *fakeEdge) dropConnections() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.conns {
		c.Close()
	}
}

func (e *fakeEdge) connections() (open, total int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.conns), e.wsCount
}

// reply queues the statuses of the next orders.
func (e *fakeEdge) reply(statuses ...int) {
	e.mu.Lock()
	e.replies = append(e.replies, statuses...)
	e.mu.Unlock()
}

func (e *fakeEdge) serveOrder(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	req := orderRequest{path: r.URL.Path, key: r.Header.Get("Idempotency-Key"), contentType: r.Header.Get("Content-Type"), auth: r.Header.Get("Authorization"),
		retry: r.Header.Get("Idempotency-Retry") == "1", at: time.Now()}
	_ = json.Unmarshal(raw, &req.body)
	e.mu.Lock()
	e.orders = append(e.orders, req)
	status := http.StatusCreated
	if len(e.replies) > 0 {
		status, e.replies = e.replies[0], e.replies[1:]
	}
	n := len(e.orders)
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if status == heldReply {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"the last units are held by other edges, try again","code":"held","retry_after_ms":1500}`)
		return
	}
	w.WriteHeader(status)
	if status == http.StatusCreated {
		fmt.Fprintf(w, `{"id":"ord_%06d","sku":%q,"qty":1,"price_cents":2500,"currency":"EUR","status":"confirmed"}`, 4200+n, req.body["sku"])
		return
	}
	fmt.Fprintf(w, `{"error":%q}`, http.StatusText(status))
}

func (e *fakeEdge) ordersSeen() []orderRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]orderRequest(nil), e.orders...)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type msg = map[string]any

func product(id, sku, name string, left int, state string) msg {
	return msg{"id": id, "kind": "product", "drop": "d1", "sku": sku, "name": name,
		"price_cents": 2500, "currency": "EUR", "stock_left": left, "drop_state": state}
}

func countdown(id string, in time.Duration) msg {
	return msg{"id": id, "kind": "countdown", "label": "Drop opens in", "ends_at_ms": time.Now().Add(in).UnixMilli(), "drop": "d1"}
}

func state(seq int, overlays ...msg) msg {
	if overlays == nil {
		overlays = []msg{}
	}
	return msg{"v": 1, "type": "state", "seq": seq, "overlays": overlays}
}

// Selectors and page expressions of the viewer page.
const (
	cardSel        = `[data-testid="product-card"]`
	buySel         = cardSel + ` [data-testid="buy"]`
	orderStatusSel = cardSel + ` [data-testid="order-status"]`
	cardsJS        = `document.querySelectorAll('[data-testid="product-card"]').length`
	cardVisibleJS  = `(() => { const c = document.querySelector('[data-testid="product-card"]'); if (!c) return false;
	  const r = c.getBoundingClientRect(); return r.width > 0 && r.height > 0 && r.bottom <= innerHeight && getComputedStyle(c).visibility === 'visible'; })()`
)

func textIs(sel, want string) string {
	s, _ := json.Marshal(sel)
	w, _ := json.Marshal(want)
	return fmt.Sprintf(`(document.querySelector(%s) || {}).textContent === %s`, s, w)
}

func textHas(sel, want string) string {
	s, _ := json.Marshal(sel)
	w, _ := json.Marshal(want)
	return fmt.Sprintf(`((document.querySelector(%s) || {}).textContent || '').includes(%s)`, s, w)
}

func mustWait(ctx context.Context, t *testing.T, p *chrometest.Page, cond string, d time.Duration) {
	t.Helper()
	if err := p.WaitFor(ctx, cond, d); err != nil {
		t.Fatal(err)
	}
}

func mustText(ctx context.Context, t *testing.T, p *chrometest.Page, sel string) string {
	t.Helper()
	s, err := p.Text(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// noUncaught fails the test if the page threw.
func noUncaught(t *testing.T, p *chrometest.Page) {
	t.Helper()
	for _, l := range p.Console() {
		if strings.HasPrefix(l, "uncaught:") {
			t.Errorf("page threw: %s", l)
		}
	}
}

// artifact writes a screenshot into the test's temp dir and, when
// LIVEDROP_ARTIFACTS is set, into that directory too.
func artifact(ctx context.Context, t *testing.T, p *chrometest.Page, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := p.Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("LIVEDROP_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := p.Screenshot(ctx, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshot: %s", path)
	return path
}

// TestWatchOverlays drives the overlays and Buy of the viewer page without
// video: the stream is offline, so the data channel never opens and the page
// falls back to the events WebSocket; with no frames, events apply at once.
func TestWatchOverlays(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	b := chrometest.Start(t)
	_, mux, srv := newFakeWHEP(t, func(*http.Request, string) (int, string) {
		return http.StatusNotFound, "stream not found\n"
	})
	e := newFakeEdge(t, mux, srv.URL)
	e.setInitial(state(1, product("ov-1", "tee", "Tee", 42, "open"), countdown("ov-cd", 90*time.Second)))

	p := openWatch(ctx, t, b, srv.URL+"/watch/shop1")
	if err := p.SetViewport(ctx, 360, 740); err != nil {
		t.Fatal(err)
	}

	// The state arrives over the WebSocket within the data channel's grace.
	mustWait(ctx, t, p, cardVisibleJS, 15*time.Second)
	var transport string
	if err := p.Eval(ctx, "window.livedrop.eventsTransport()", &transport); err != nil || transport != "websocket" {
		t.Errorf("events transport %q, %v; want websocket", transport, err)
	}
	var wantPrice string
	if err := p.Eval(ctx, `new Intl.NumberFormat(undefined, {style: 'currency', currency: 'EUR'}).format(25)`, &wantPrice); err != nil {
		t.Fatal(err)
	}
	if got := mustText(ctx, t, p, `[data-testid="price"]`); got != wantPrice || !strings.Contains(got, "25") || !strings.Contains(got, "€") {
		t.Errorf("price %q, want %q (EUR 25)", got, wantPrice)
	}
	if got := mustText(ctx, t, p, `[data-testid="stock-left"]`); got != "42 left" {
		t.Errorf("stock-left %q, want 42 left", got)
	}
	if got := mustText(ctx, t, p, `[data-testid="countdown"]`); !regexp.MustCompile(`^01:(2\d|30)$`).MatchString(got) {
		t.Errorf("countdown %q, want about 01:30", got)
	}
	var ovs []msg
	if err := p.Eval(ctx, "window.livedrop.overlays()", &ovs); err != nil || len(ovs) != 2 {
		t.Errorf("livedrop.overlays() = %v, %v; want 2", ovs, err)
	}

	// Stock changes at once.
	e.broadcast(msg{"v": 1, "type": "stock", "drop": "d1", "sku": "tee", "left": 41})
	mustWait(ctx, t, p, textIs(`[data-testid="stock-left"]`, "41 left"), 5*time.Second)

	// Buy: the sign-in step first (as a guest), then one POST with a key
	// and the session, the confirmation in place.
	if err := p.Click(ctx, buySel); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, `!document.querySelector('[data-testid="signin"]').hidden`, 5*time.Second)
	if n := len(e.ordersSeen()); n != 0 {
		t.Fatalf("%d orders posted before signing in", n)
	}
	if err := p.Click(ctx, `[data-testid="signin-guest"]`); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, textHas(orderStatusSel, "Order confirmed"), 10*time.Second)
	if got := mustText(ctx, t, p, orderStatusSel); !strings.Contains(got, "004201") {
		t.Errorf("order status %q, want the short order id 004201", got)
	}
	orders := e.ordersSeen()
	if len(orders) != 1 {
		t.Fatalf("%d orders posted, want 1", len(orders))
	}
	o := orders[0]
	if o.path != "/v1/drops/d1/orders" || o.contentType != "application/json" {
		t.Errorf("order posted to %s as %q", o.path, o.contentType)
	}
	if len(o.key) < 16 {
		t.Errorf("Idempotency-Key %q, want a UUID", o.key)
	}
	if o.body["sku"] != "tee" || o.body["qty"] != float64(1) || o.body["buyer"] != nil {
		t.Errorf("order body %v, want sku and qty only (the session names the buyer)", o.body)
	}
	if o.auth != "Bearer "+fakeSession {
		t.Errorf("order Authorization %q, want the guest session", o.auth)
	}
	artifact(ctx, t, p, "watch-card-novideo-360.png")

	// A 503, then a 201: the retry carries the same key; a new tap a new key.
	e.reply(http.StatusServiceUnavailable, http.StatusCreated)
	if err := p.Click(ctx, buySel); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, textHas(orderStatusSel, "004203"), 10*time.Second)
	orders = e.ordersSeen()
	if len(orders) != 3 {
		t.Fatalf("%d orders posted, want 3", len(orders))
	}
	if orders[1].key != orders[2].key {
		t.Errorf("retry changed the Idempotency-Key: %q then %q", orders[1].key, orders[2].key)
	}
	if orders[1].key == orders[0].key {
		t.Error("a second tap reused the first tap's Idempotency-Key")
	}
	if orders[0].retry || orders[1].retry || !orders[2].retry {
		t.Errorf("Idempotency-Retry marks %v %v %v, want only the retry marked", orders[0].retry, orders[1].retry, orders[2].retry)
	}
	if orders[2].auth != orders[0].auth {
		t.Errorf("session changed from %q to %q", orders[0].auth, orders[2].auth)
	}

	// The edge stays down: three retries, then a message; the same key all along.
	e.reply(503, 503, 503, 503)
	if err := p.Click(ctx, buySel); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, textIs(orderStatusSel, "Could not place order, try again"), 15*time.Second)
	orders = e.ordersSeen()
	if len(orders) != 7 {
		t.Fatalf("%d orders posted, want 7 (3 before, 1 + 3 retries)", len(orders))
	}
	for _, o := range orders[4:] {
		if o.key != orders[3].key {
			t.Errorf("retries of one tap used keys %q and %q", orders[3].key, o.key)
		}
	}

	// Held (other edges hold the last units): "almost gone" while the page
	// waits the edge's retry_after_ms, then the order, on the same key; the
	// wait is not one of the three failed tries.
	e.reply(heldReply, heldReply, heldReply, heldReply, http.StatusCreated)
	if err := p.Click(ctx, buySel); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, textHas(orderStatusSel, "Almost gone"), 5*time.Second); err != nil {
		t.Fatalf("%v; status %q, %d orders", err, mustText(ctx, t, p, orderStatusSel), len(e.ordersSeen()))
	}
	mustWait(ctx, t, p, textHas(orderStatusSel, "Order confirmed"), 20*time.Second)
	orders = e.ordersSeen()
	if len(orders) != 12 {
		t.Fatalf("%d orders posted, want 12 (7 before, 4 held + 1)", len(orders))
	}
	for i, o := range orders[8:] {
		if o.key != orders[7].key {
			t.Errorf("a held order's retries used keys %q and %q", orders[7].key, o.key)
		}
		if gap := o.at.Sub(orders[7+i].at); gap < time.Second {
			t.Errorf("retry %d after a held answer came %v after it, want the edge's 1.5 s (±20 %%)", i+1, gap)
		}
	}

	// The refusals, each in place.
	for _, tc := range []struct {
		status int
		want   string
	}{
		{http.StatusForbidden, "Drop not open"},
		{http.StatusUnprocessableEntity, "Limit reached"},
		{http.StatusTooManyRequests, "Too many taps, try again"},
		{http.StatusConflict, "Sold out"},
	} {
		e.reply(tc.status)
		if err := p.Click(ctx, buySel); err != nil {
			t.Fatal(err)
		}
		mustWait(ctx, t, p, textIs(orderStatusSel, tc.want), 10*time.Second)
	}
	// After a 409 Buy is off, until the stock says units came back.
	mustWait(ctx, t, p, `document.querySelector('[data-testid="buy"]').disabled`, 2*time.Second)
	e.broadcast(msg{"v": 1, "type": "stock", "drop": "d1", "sku": "tee", "left": 3})
	mustWait(ctx, t, p, textIs(`[data-testid="stock-left"]`, "3 left")+` && !document.querySelector('[data-testid="buy"]').disabled`, 5*time.Second)
	e.broadcast(msg{"v": 1, "type": "stock", "drop": "d1", "sku": "tee", "left": 0})
	mustWait(ctx, t, p, textIs(`[data-testid="stock-left"]`, "Sold out")+` && document.querySelector('[data-testid="buy"]').disabled`, 5*time.Second)

	// Stale and unknown messages change nothing; hide and show apply.
	e.broadcast(msg{"v": 1, "type": "show", "seq": 1, "media_ts": 0, "overlay": product("ov-stale", "x", "Stale", 1, "open")})
	e.broadcast(msg{"v": 1, "type": "confetti", "seq": 99})
	e.broadcast("not json")
	e.broadcast(msg{"v": 1, "type": "hide", "seq": 2, "media_ts": 12345, "id": "ov-cd"})
	mustWait(ctx, t, p, `!document.querySelector('[data-testid="countdown"]')`, 5*time.Second)
	e.broadcast(msg{"v": 1, "type": "show", "seq": 3, "media_ts": 12345, "overlay": product("ov-2", "cap", "Cap", 7, "open")})
	mustWait(ctx, t, p, cardsJS+" === 2", 5*time.Second)
	var ids []string
	if err := p.Eval(ctx, "window.livedrop.overlays().map((o) => o.id).sort()", &ids); err != nil || strings.Join(ids, ",") != "ov-1,ov-2" {
		t.Errorf("overlays %v, %v; want ov-1,ov-2 (the stale show ignored)", ids, err)
	}

	// The drop closes: its cards go at once.
	e.broadcast(msg{"v": 1, "type": "drop", "drop": "d1", "state": "closed"})
	mustWait(ctx, t, p, cardsJS+" === 0", 5*time.Second)

	// The edge restarts: the page reconnects and takes the new state.
	_, before := e.connections()
	e.setInitial(state(1, product("ov-9", "tee", "Tee", 5, "open")))
	e.dropConnections()
	mustWait(ctx, t, p, cardsJS+" === 1 && "+textIs(`[data-testid="stock-left"]`, "5 left"), 15*time.Second)
	if _, after := e.connections(); after <= before {
		t.Errorf("events connections %d then %d: no reconnect", before, after)
	}
	noUncaught(t, p)
}

// publisherEventsPage is publisherPage that also plays the server's side of
// the data channel: it keeps the viewer's 'events' channels, sends them a
// state when they open, and sendEvent broadcasts on them.
var publisherEventsPage = strings.Replace(publisherPage, "pcs.push(pc);", `pcs.push(pc);
  pc.ondatachannel = (e) => {
    const ch = e.channel;
    channels.push(ch);
    ch.onopen = () => ch.send(JSON.stringify(window.initialState));
    if (ch.readyState === 'open') ch.onopen();
  };`, 1) + `<script>
window.channels = [];
window.initialState = {v: 1, type: 'state', seq: 1, overlays: []};
window.sendEvent = (m) => {
  const s = JSON.stringify(m);
  let n = 0;
  for (const c of channels) if (c.readyState === 'open') { c.send(s); n++; }
  return n;
};
</script>`

// observeCardJS records, when the first product card enters the page, the
// RTP timestamp of the frame on screen.
const observeCardJS = `(() => {
  window.__seen = null;
  window.__gone = null;
  const layer = document.querySelector('[data-testid="overlay"]');
  new MutationObserver(() => {
    const card = document.querySelector('[data-testid="product-card"]');
    if (card && !window.__seen) window.__seen = { ts: window.livedrop.lastFrameRtpTimestamp(), at: performance.now() };
    if (!card && window.__seen && !window.__gone) window.__gone = { ts: window.livedrop.lastFrameRtpTimestamp(), at: performance.now() };
  }).observe(layer, { childList: true, subtree: true });
  window.__sentAt = performance.now();
  return window.livedrop.lastFrameRtpTimestamp();
})()`

// TestWatchOverlayFrameSync plays real WebRTC video (a canvas in another tab,
// answering WHEP and holding the server's side of the data channel) and
// checks that a show stamped one second ahead of the frame on screen appears
// on the frame it is stamped for, not when it arrives.
func TestWatchOverlayFrameSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	b := chrometest.Start(t)

	var pub *chrometest.Page
	_, mux, srv := newFakeWHEP(t, func(r *http.Request, offer string) (int, string) {
		var answer string
		js, _ := json.Marshal(offer)
		if err := pub.Eval(r.Context(), "answer("+string(js)+")", &answer); err != nil {
			return http.StatusInternalServerError, err.Error()
		}
		return http.StatusCreated, answer
	})
	e := newFakeEdge(t, mux, srv.URL)
	mux.Handle("GET /publisher", htmlHandler(publisherEventsPage))
	pub, err := b.Open(ctx, srv.URL+"/publisher")
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, pub)

	p := openWatch(ctx, t, b, srv.URL+"/watch/shop1")
	if err := p.SetViewport(ctx, 360, 740); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, "window.livedrop.status() === 'playing'", 30*time.Second)
	mustWait(ctx, t, p, "window.livedrop.eventsTransport() === 'datachannel'", 15*time.Second)
	mustWait(ctx, t, p, "window.livedrop.lastFrameRtpTimestamp() !== null", 10*time.Second)
	var source string
	if err := p.Eval(ctx, "window.livedrop.clockSource()", &source); err != nil || source != "rvfc" {
		t.Errorf("media clock from %q, %v; want rvfc (requestVideoFrameCallback's rtpTimestamp)", source, err)
	}
	if open, _ := e.connections(); open != 0 {
		t.Errorf("%d events WebSockets open while the data channel works", open)
	}

	// A show stamped 1 s after the frame on screen.
	var now uint32
	if err := p.Eval(ctx, observeCardJS, &now); err != nil {
		t.Fatal(err)
	}
	mediaTs := now + 90000
	var sent int
	if err := pub.Eval(ctx, fmt.Sprintf(`sendEvent({v: 1, type: 'show', seq: 2, media_ts: %d, overlay: %s})`,
		mediaTs, mustJSON(t, product("ov-1", "tee", "Tee", 12, "open"))), &sent); err != nil || sent != 1 {
		t.Fatalf("sent on %d channels, %v", sent, err)
	}
	mustWait(ctx, t, p, "window.__seen", 10*time.Second)
	var seen struct {
		TS uint32  `json:"ts"`
		At float64 `json:"at"`
	}
	var sentAt float64
	if err := p.Eval(ctx, "window.__seen", &seen); err != nil {
		t.Fatal(err)
	}
	if err := p.Eval(ctx, "window.__sentAt", &sentAt); err != nil {
		t.Fatal(err)
	}
	var applied []struct {
		ID          string  `json:"id"`
		Type        string  `json:"type"`
		MediaTs     uint32  `json:"mediaTs"`
		FrameTs     *uint32 `json:"frameTs"`
		PrevFrameTs *uint32 `json:"prevFrameTs"`
	}
	if err := p.Eval(ctx, "window.livedrop.applied()", &applied); err != nil || len(applied) == 0 {
		t.Fatalf("applied %v, %v", applied, err)
	}
	a := applied[len(applied)-1]
	late := int32(seen.TS - mediaTs) // ticks of 90 kHz the card came after its stamp
	t.Logf("stamp %d; card on frame %d (%+d ticks, %.1f ms), previous frame %v; %.0f ms after sending",
		mediaTs, seen.TS, late, float64(late)/90, deref(a.PrevFrameTs), seen.At-sentAt)
	if late < 0 {
		t.Errorf("card shown on frame %d, %d ticks before its stamp %d", seen.TS, -late, mediaTs)
	}
	// Within one frame: the page applied it on the first frame presented
	// that reached the stamp (the one before had not). That frame is
	// normally at most two frame intervals (30 fps) after the stamp; a
	// loaded machine skips presenting frames, so the bound allows five.
	if a.FrameTs == nil || *a.FrameTs != seen.TS {
		t.Errorf("page applied it on frame %v, the card was seen on %d", a.FrameTs, seen.TS)
	}
	if a.PrevFrameTs == nil || int32(mediaTs-*a.PrevFrameTs) <= 0 {
		t.Errorf("previous frame %v had already reached the stamp %d: applied late", a.PrevFrameTs, mediaTs)
	}
	if late > 5*3000 {
		t.Errorf("card shown %d ticks (%.0f ms) after its stamp, want within 5 frames", late, float64(late)/90)
	}
	if d := seen.At - sentAt; d < 500 {
		t.Errorf("card shown %.0f ms after the event was sent: it did not wait for its frame (1 s ahead)", d)
	}

	// A hide stamped half a second ahead: the card stays until then.
	var cur uint32
	if err := p.Eval(ctx, "window.livedrop.lastFrameRtpTimestamp()", &cur); err != nil {
		t.Fatal(err)
	}
	hideTs := cur + 45000
	if err := pub.Eval(ctx, fmt.Sprintf(`sendEvent({v: 1, type: 'hide', seq: 3, media_ts: %d, id: 'ov-1'})`, hideTs), nil); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, "window.__gone", 10*time.Second)
	var gone struct {
		TS uint32 `json:"ts"`
	}
	if err := p.Eval(ctx, "window.__gone", &gone); err != nil {
		t.Fatal(err)
	}
	if d := int32(gone.TS - hideTs); d < 0 || d > 5*3000 {
		t.Errorf("card hidden on frame %d, %+d ticks from its stamp %d", gone.TS, d, hideTs)
	}
	// Hidden on the first frame presented that reached the stamp, as shown.
	if err := p.Eval(ctx, "window.livedrop.applied()", &applied); err != nil || len(applied) == 0 {
		t.Fatalf("applied %v, %v", applied, err)
	}
	if h := applied[len(applied)-1]; h.Type != "hide" || h.FrameTs == nil || *h.FrameTs != gone.TS ||
		h.PrevFrameTs == nil || int32(hideTs-*h.PrevFrameTs) <= 0 {
		t.Errorf("hide applied as %+v (frame %v, previous %v), the card was gone on %d: want the first frame to reach %d",
			h, deref(h.FrameTs), deref(h.PrevFrameTs), gone.TS, hideTs)
	}

	// The picture for the README: a card over live video, after a purchase.
	if err := pub.Eval(ctx, fmt.Sprintf(`sendEvent(%s)`, mustJSON(t, state(10,
		countdown("ov-cd", 4*time.Minute+32*time.Second),
		product("ov-2", "tee", "Drop Tee — Black", 18, "open")))), nil); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, cardVisibleJS, 5*time.Second)
	if err := p.Click(ctx, buySel); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, `!document.querySelector('[data-testid="signin"]').hidden`, 5*time.Second)
	if err := p.Click(ctx, `[data-testid="signin-guest"]`); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, textHas(orderStatusSel, "Order confirmed"), 10*time.Second)
	if err := pub.Eval(ctx, `sendEvent({v: 1, type: 'stock', drop: 'd1', sku: 'tee', left: 17})`, nil); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, textIs(`[data-testid="stock-left"]`, "17 left"), 5*time.Second)
	// Let the card's slide-in end and a few fresh frames paint.
	time.Sleep(400 * time.Millisecond)
	artifact(ctx, t, p, "watch-card-360.png")
	noUncaught(t, p)
}

func deref(p *uint32) any {
	if p == nil {
		return nil
	}
	return *p
}
