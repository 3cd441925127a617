package chrometest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/dropphoto"
	"github.com/livedrop/livedrop/internal/webui"
)

// desk is a signed-in seller console on a real control API, checkout
// store, photo store and edge (region us), for the drops panel's tests.
type desk struct {
	st     checkout.Store
	photos *dropphoto.DirStore
	buyers *buyertest.Buyers
	base   string
	p      *chrometest.Page
	// pins are the overlay API's pins (the overlay API is not under test).
	pins chan map[string]any
}

// openDesk starts the desk and signs the console in; everything stops at
// the test's end.
func openDesk(ctx context.Context, t *testing.T) *desk {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	st, err := checkout.OpenMemStore(filepath.Join(dir, "store.journal"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := checkout.Defaults()
	cfg.SyncInterval = 50 * time.Millisecond
	keys, err := checkout.NewRSVPKeys(nil, []byte("rsvp-key-0123456789abcdef0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, Store: st, RSVP: keys})
	if err != nil {
		t.Fatal(err)
	}
	edge, err := checkout.NewEdge(checkout.EdgeParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, DataDir: t.TempDir(),
		EdgeID: "e-us", Region: "us", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	api, err := checkouthttp.NewControlAPI(ctl, consoleToken, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	photos := dropphoto.NewDirStore(filepath.Join(dir, "photos"))
	if err := api.SetPhotos(photos, prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	for _, run := range []func(context.Context) error{api.Run, ctl.Run, edge.Run} {
		go func() { _ = run(rctx); done <- struct{}{} }()
	}
	t.Cleanup(func() { rcancel(); <-done; <-done; <-done })
	<-edge.Ready()
	tokens, err := checkouthttp.NewOrderTokens([]byte("order-token-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	buyers := buyertest.New(t, "")
	eapi, err := checkouthttp.NewEdgeAPI(checkouthttp.EdgeParams{Edge: edge, Tokens: tokens, Sessions: buyers.Sessions(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	u, err := webui.New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.RegisterConsole(mux)
	api.Register(mux)
	eapi.RegisterOrders(mux) // the control API owns GET /v1/drops/{id} here
	mux.HandleFunc("POST /whep/{stream}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "stream not found", http.StatusNotFound)
	})
	pins := make(chan map[string]any, 4)
	mux.HandleFunc("POST /v1/streams/{stream}/overlays", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body)
		body["stream"] = r.PathValue("stream")
		pins <- body
		writeJSON(w, http.StatusCreated, map[string]any{"id": "ov-1", "kind": "product", "drop": body["drop"], "sku": body["sku"]})
	})
	base := serve(t, mux).URL

	b := chrometest.Start(t)
	p, err := b.Open(ctx, base+"/console")
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, p)
	if err := p.Type(ctx, tid("token"), consoleToken); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, tid("login")); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, exists("drops-panel")+` !== null && !document.querySelector('[data-testid="desk"]').hidden`, 15*time.Second)
	return &desk{st: st, photos: photos, buyers: buyers, base: base, p: p, pins: pins}
}

// fillDrop sets the drop form's fields (data-testid drop-form-NAME) the way
// typing does; times sets datetime fields that far from now (the page's
// local time).
func (d *desk) fillDrop(ctx context.Context, t *testing.T, fields map[string]string, times map[string]time.Duration) {
	t.Helper()
	ms := map[string]int64{}
	for k, v := range times {
		ms[k] = v.Milliseconds()
	}
	fj, _ := json.Marshal(fields)
	tj, _ := json.Marshal(ms)
	fill := `((fields, times) => {
	  const set = (id, v) => { const e = document.querySelector('[data-testid="drop-form-' + id + '"]'); e.value = v; e.dispatchEvent(new Event('input')); };
	  for (const [k, v] of Object.entries(fields)) set(k, v);
	  const pad = (n) => String(n).padStart(2, '0');
	  const local = (at) => at.getFullYear() + '-' + pad(at.getMonth() + 1) + '-' + pad(at.getDate()) + 'T' + pad(at.getHours()) + ':' + pad(at.getMinutes()) + ':' + pad(at.getSeconds());
	  for (const [k, v] of Object.entries(times)) set(k, local(new Date(Date.now() + v)));
	  return true;
	})(` + string(fj) + `, ` + string(tj) + `)`
	var ok bool
	if err := d.p.Eval(ctx, fill, &ok); err != nil || !ok {
		t.Fatalf("fill the drop form: %v", err)
	}
}

// say waits for the drops panel's message to be in state ("ok" or
// "error") and to hold want, and returns it.
func (d *desk) say(ctx context.Context, t *testing.T, state, want string) string {
	t.Helper()
	sel := tid("drops-error")
	cond := `(e => e && e.dataset.state === ` + jsonString(state) + ` && e.textContent.includes(` + jsonString(want) + `))(document.querySelector(` + jsonString(sel) + `))`
	if err := d.p.WaitFor(ctx, cond, 10*time.Second); err != nil {
		got, _ := d.p.Text(ctx, sel)
		t.Fatalf("drops panel says %q, want %s with %q", got, state, want)
	}
	got, _ := d.p.Text(ctx, sel)
	return got
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// control calls the control API as the console does (its bearer token)
// and fails the test unless the answer has status want.
func (d *desk) control(ctx context.Context, t *testing.T, method, path, contentType string, body []byte, want int) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+consoleToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

// pngOf is a w x w PNG.
func pngOf(t *testing.T, w int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, w))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
