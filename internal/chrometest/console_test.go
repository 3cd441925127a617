package chrometest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/webui"
)

const consoleToken = "right-token-0123456789"

// controlCall is one control API request the fake origin saw.
type controlCall struct {
	method, path, auth string
	body               map[string]any
}

// fakeOrigin serves the console and a fake control API: drop d1 with two
// SKUs, overlays, and WHEP that says the stream is offline.
type fakeOrigin struct {
	mu       sync.Mutex
	calls    []controlCall
	sold     int
	state    string
	overlays []map[string]any
	next     int
}

func newFakeOrigin(t *testing.T) (*fakeOrigin, string) {
	t.Helper()
	o := &fakeOrigin{sold: 7, state: "scheduled"}
	u, err := webui.New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.RegisterConsole(mux)
	mux.HandleFunc("POST /whep/{stream}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "stream not found", http.StatusNotFound)
	})
	mux.HandleFunc("/v1/", o.serveAPI)
	return o, serve(t, mux).URL
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (o *fakeOrigin) serveAPI(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/events") {
		// No events WebSocket here: the console keeps its list by polling.
		http.NotFound(w, r)
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	c := controlCall{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization")}
	_ = json.Unmarshal(raw, &c.body)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, c)
	if c.auth != "Bearer "+consoleToken {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid control token"})
		return
	}
	switch p := r.URL.Path; {
	case r.Method == http.MethodGet && p == "/v1/drops":
		writeJSON(w, http.StatusOK, []map[string]any{{"drop": "d1", "stream": "demo", "state": o.state}})
	case r.Method == http.MethodGet && p == "/v1/drops/d1":
		writeJSON(w, http.StatusOK, map[string]any{"drop": "d1", "stream": "demo", "state": o.state, "skus": []map[string]any{
			{"sku": "tee", "stock": 100, "free": 60, "held_at_edges": 100 - 60 - o.sold, "sold": o.sold, "orders": o.sold - 2,
				"paid": o.sold - 2, "cancelled": 0, "revenue_cents": 2500 * o.sold, "currency": "EUR"},
			{"sku": "cap", "stock": 20, "free": 20, "held_at_edges": 0, "sold": 0, "orders": 0, "paid": 0, "cancelled": 0,
				"revenue_cents": 0, "currency": "EUR"},
		}})
	case r.Method == http.MethodPost && (p == "/v1/drops/d1/open" || p == "/v1/drops/d1/close"):
		o.state = map[bool]string{true: "open", false: "closed"}[strings.HasSuffix(p, "/open")]
		writeJSON(w, http.StatusOK, map[string]any{"drop": "d1", "state": o.state})
	case r.Method == http.MethodGet && p == "/v1/streams/demo/overlays":
		writeJSON(w, http.StatusOK, map[string]any{"overlays": o.overlays})
	case r.Method == http.MethodPost && p == "/v1/streams/demo/overlays":
		o.next++
		ov := map[string]any{"id": fmt.Sprintf("ov-%d", o.next), "kind": c.body["type"], "drop": c.body["drop"]}
		if c.body["type"] == "product" {
			ov["sku"], ov["name"] = c.body["sku"], "Tee"
		} else {
			ov["label"], ov["ends_at_ms"] = c.body["label"], time.Now().Add(30*time.Second).UnixMilli()
		}
		o.overlays = append(o.overlays, ov)
		writeJSON(w, http.StatusCreated, ov)
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/v1/streams/demo/overlays/"):
		id := strings.TrimPrefix(p, "/v1/streams/demo/overlays/")
		for i, ov := range o.overlays {
			if ov["id"] == id {
				o.overlays = append(o.overlays[:i], o.overlays[i+1:]...)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such overlay"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	}
}

func (o *fakeOrigin) setSold(n int) {
	o.mu.Lock()
	o.sold = n
	o.mu.Unlock()
}

// waitCall waits for a call with method and path and returns it.
func (o *fakeOrigin) waitCall(t *testing.T, method, path string, timeout time.Duration) controlCall {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		o.mu.Lock()
		for _, c := range o.calls {
			if c.method == method && c.path == path {
				o.mu.Unlock()
				return c
			}
		}
		o.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s %s within %v", method, path, timeout)
	return controlCall{}
}

func (o *fakeOrigin) allCalls() []controlCall {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]controlCall(nil), o.calls...)
}

func tid(id string) string { return `[data-testid="` + id + `"]` }

// exists is a page expression: the element with that data-testid, or null.
func exists(id string) string { return `document.querySelector('[data-testid="` + id + `"]')` }

func TestConsole(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := chrometest.Start(t)
	o, base := newFakeOrigin(t)
	p, err := b.Open(ctx, base+"/console")
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, p)
	if err := p.SetViewport(ctx, 360, 740); err != nil {
		t.Fatal(err)
	}

	// A wrong token: the 401 and its reason, nothing kept.
	if err := p.Type(ctx, tid("token"), "wrong-token-000000000"); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, tid("login")); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, textHas(tid("login-error"), "401"), 10*time.Second)
	if got := mustText(ctx, t, p, tid("login-error")); !strings.Contains(got, "invalid control token") {
		t.Errorf("login error %q, want the API's reason", got)
	}
	var kept string
	if err := p.Eval(ctx, "sessionStorage.getItem('livedrop.token') || ''", &kept); err != nil || kept != "" {
		t.Errorf("a wrong token was kept: %q, %v", kept, err)
	}
	mustWait(ctx, t, p, exists("desk")+`.hidden`, time.Second)

	// The right token: the desk with the live totals of the first drop.
	if err := p.Type(ctx, tid("token"), consoleToken); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, tid("login")); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, textIs(tid("sold"), "7"), 10*time.Second); err != nil {
		var dbg any
		_ = p.Eval(ctx, `({err: document.querySelector('[data-testid="login-error"]').textContent, desk: document.querySelector('[data-testid="desk"]').hidden, sold: document.querySelector('[data-testid="sold"]').textContent, notice: document.querySelector('[data-testid="notice"]').textContent, drop: document.querySelector('[data-testid="drop"]').value})`, &dbg)
		for _, c := range o.allCalls() {
			t.Logf("%s %s %s %v", c.method, c.path, c.auth, c.body)
		}
		t.Fatalf("%v; page %v", err, dbg)
	}
	var dropID, href string
	if err := p.Eval(ctx, `document.querySelector('[data-testid="drop"]').value`, &dropID); err != nil || dropID != "d1" {
		t.Errorf("drop field %q, %v; want d1, the first drop", dropID, err)
	}
	if got := mustText(ctx, t, p, tid("orders")); got != "5" {
		t.Errorf("orders %q, want 5", got)
	}
	if got := mustText(ctx, t, p, tid("left")); got != "113" {
		t.Errorf("left %q, want 113 (93 tees and 20 caps)", got)
	}
	if got := mustText(ctx, t, p, tid("revenue")); !strings.Contains(got, "175") || !strings.Contains(got, "€") {
		t.Errorf("revenue %q, want EUR 175", got)
	}
	if err := p.Eval(ctx, "sessionStorage.getItem('livedrop.token') + ' ' + location.href", &href); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(href, consoleToken+" ") || strings.Count(href, consoleToken) != 1 {
		t.Errorf("token storage and URL: %q; want the token in sessionStorage only", href)
	}

	// Totals are live.
	o.setSold(9)
	mustWait(ctx, t, p, textIs(tid("sold"), "9"), 5*time.Second)

	// Open the drop.
	if err := p.Click(ctx, tid("open-drop")); err != nil {
		t.Fatal(err)
	}
	o.waitCall(t, http.MethodPost, "/v1/drops/d1/open", 5*time.Second)
	mustWait(ctx, t, p, textIs(tid("drop-state"), "open"), 5*time.Second)

	// Pin a product: the right POST, and an Unpin for it.
	if err := p.Click(ctx, tid("pin-tee")); err != nil {
		t.Fatal(err)
	}
	pin := o.waitCall(t, http.MethodPost, "/v1/streams/demo/overlays", 5*time.Second)
	if want := map[string]any{"type": "product", "drop": "d1", "sku": "tee"}; fmt.Sprint(pin.body) != fmt.Sprint(want) {
		t.Errorf("pin body %v, want %v", pin.body, want)
	}
	mustWait(ctx, t, p, exists("unpin-ov-1"), 5*time.Second)

	// A countdown.
	if err := p.Click(ctx, tid("countdown-start")); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, exists("unpin-ov-2"), 5*time.Second)
	var cd controlCall
	for _, c := range o.allCalls() {
		if c.method == http.MethodPost && c.path == "/v1/streams/demo/overlays" && c.body["type"] == "countdown" {
			cd = c
		}
	}
	if want := map[string]any{"type": "countdown", "label": "Drop opens in", "seconds": float64(30), "drop": "d1"}; fmt.Sprint(cd.body) != fmt.Sprint(want) {
		t.Errorf("countdown body %v, want %v", cd.body, want)
	}
	if err := p.Eval(ctx, "window.scrollTo(0, 0)", nil); err != nil {
		t.Fatal(err)
	}
	artifact(ctx, t, p, "console-360.png")

	// Unpin.
	if err := p.Click(ctx, tid("unpin-ov-1")); err != nil {
		t.Fatal(err)
	}
	o.waitCall(t, http.MethodDelete, "/v1/streams/demo/overlays/ov-1", 5*time.Second)
	mustWait(ctx, t, p, "!"+exists("unpin-ov-1"), 5*time.Second)

	// Every control call carried the token.
	for _, c := range o.allCalls() {
		if c.auth != "Bearer "+consoleToken && c.auth != "Bearer wrong-token-000000000" {
			t.Errorf("%s %s with Authorization %q", c.method, c.path, c.auth)
		}
	}
	noUncaught(t, p)
}
