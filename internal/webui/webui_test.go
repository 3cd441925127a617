package webui

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/money"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	u, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(u.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return res, string(body)
}

func TestWatchPage(t *testing.T) {
	srv := newServer(t)
	for _, stream := range []string{"shop1", "Pop-Up_2026", strings.Repeat("a", 64), "0"} {
		t.Run(stream, func(t *testing.T) {
			res, body := get(t, srv.URL+"/watch/"+stream, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if !strings.Contains(body, `data-stream="`+stream+`"`) {
				t.Errorf("page does not carry the stream name %q", stream)
			}
			for _, want := range []string{
				`data-testid="status"`, `>connecting<`,
				`data-testid="video"`, `autoplay`, `playsinline`, `muted`,
				`id="overlay"`, `data-testid="overlay"`, `aria-label="Unmute"`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if res.Header.Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy")
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", cc)
			}
		})
	}
}

func TestWatchPageRejectsBadNames(t *testing.T) {
	srv := newServer(t)
	for _, path := range []string{
		"/watch/",
		"/watch/" + strings.Repeat("a", 65),
		"/watch/a.b",
		"/watch/a%2Fb",
		"/watch/a/b",
		"/watch/%3Cscript%3E",
		"/watch/caf%C3%A9",
		"/watch/a%20b",
		"/static/nope.js",
		"/static/",
	} {
		t.Run(path, func(t *testing.T) {
			res, _ := get(t, srv.URL+path, nil)
			if res.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want 404", res.StatusCode)
			}
		})
	}
}

func TestWatchPageOnlyGET(t *testing.T) {
	srv := newServer(t)
	res, err := http.Post(srv.URL+"/watch/shop1", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST status %d, want 405", res.StatusCode)
	}
}

var assetRef = regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)

func TestStaticAssets(t *testing.T) {
	srv := newServer(t)
	// Both pages reach the events WebSocket through the player module.
	_, player := get(t, srv.URL+"/static/player.js", nil)
	for _, want := range []string{"'/v1/streams/'", "'/events'", "'wss://'", "eventSocket"} {
		if !strings.Contains(player, want) {
			t.Errorf("player.js lacks %s", want)
		}
	}
	_, page := get(t, srv.URL+"/watch/shop1", nil)
	refs := assetRef.FindAllStringSubmatch(page, -1)
	if len(refs) != 10 {
		t.Fatalf("page references %d static assets, want 10 (player.js, proofs.js, pickup.js, watch.js, auction.js, dropphoto.js, wallet.js, giveaway.js, fair.js, player.css): %v", len(refs), refs)
	}
	// The proof-of-work worker is a script of our own (CSP: worker-src falls
	// back to script-src 'self'), named by the page for proofs.js.
	if m := regexp.MustCompile(`data-pow-worker="(/static/powworker\.js\?v=[0-9a-f]+)"`).FindStringSubmatch(page); m == nil {
		t.Error("page names no versioned powworker.js")
	} else if res, body := get(t, srv.URL+m[1], nil); res.StatusCode != http.StatusOK || !strings.Contains(body, "onmessage") {
		t.Errorf("GET %s: %d", m[1], res.StatusCode)
	}
	want := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
	}
	for _, ref := range refs {
		url := strings.ReplaceAll(ref[1], "&amp;", "&")
		ext := url[strings.LastIndex(url, "."):strings.Index(url, "?")]
		t.Run(ext, func(t *testing.T) {
			res, body := get(t, srv.URL+url, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d", url, res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); ct != want[ext] {
				t.Errorf("GET %s: Content-Type %q, want %q", url, ct, want[ext])
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s: no nosniff", url)
			}
			if len(body) < 100 {
				t.Errorf("GET %s: body of %d bytes", url, len(body))
			}
			// The versioned URL may be cached for good.
			if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
				t.Errorf("GET %s: Cache-Control %q, want immutable", url, cc)
			}
			etag := res.Header.Get("ETag")
			if etag == "" {
				t.Fatalf("GET %s: no ETag", url)
			}
			// An unversioned URL must be revalidated, and revalidation works.
			bare := url[:strings.Index(url, "?")]
			res, _ = get(t, srv.URL+bare, nil)
			if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("GET %s: Cache-Control %q, want no-cache", bare, cc)
			}
			res, _ = get(t, srv.URL+bare, map[string]string{"If-None-Match": etag})
			if res.StatusCode != http.StatusNotModified {
				t.Errorf("GET %s with If-None-Match: status %d, want 304", bare, res.StatusCode)
			}
		})
	}
}

// TestPlayerSpeaksWHEP guards the parts of the player that other programs
// rely on; the browser tests in internal/chrometest prove it runs.
func TestPlayerSpeaksWHEP(t *testing.T) {
	srv := newServer(t)
	_, js := get(t, srv.URL+"/static/player.js", nil)
	_, watch := get(t, srv.URL+"/static/watch.js", nil)
	js += watch
	for _, want := range []string{
		"new RTCPeerConnection()",
		"addTransceiver('video', { direction: 'recvonly' })",
		"addTransceiver('audio', { direction: 'recvonly' })",
		"'/whep/'",
		"'Content-Type': 'application/sdp'",
		"method: 'DELETE', keepalive: true",
		"'pagehide'",
		"'stream offline'",
		"window.livedrop",
	} {
		if !strings.Contains(js, want) {
			t.Errorf("player.js lacks %s", want)
		}
	}
}

func TestValidStreamName(t *testing.T) {
	for name, want := range map[string]bool{
		"a": true, "A-b_9": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "a b": false, "a/b": false,
		"a.b": false, "é": false, "a\n": false,
	} {
		if got := media.ValidName(name); got != want {
			t.Errorf("media.ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	res, _ := get(t, srv.URL+"/watch/shop1", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
}

// FuzzWatch checks that any stream name in the URL gets the page only when
// valid, never a server error, and never reaches the page unescaped.
func FuzzWatch(f *testing.F) {
	for _, s := range []string{"shop1", "", "a/b", "<script>", "%2F", "é", strings.Repeat("z", 65)} {
		f.Add(s)
	}
	u, err := New()
	if err != nil {
		f.Fatal(err)
	}
	h := u.Handler()
	f.Fuzz(func(t *testing.T, stream string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = "/watch/" + stream
		req.URL.RawPath = ""
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !media.ValidName(stream) {
				t.Fatalf("page served for invalid name %q", stream)
			}
			if !strings.Contains(rec.Body.String(), `data-stream="`+stream+`"`) {
				t.Fatalf("page for %q lacks its name", stream)
			}
		case http.StatusNotFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			if rec.Code == http.StatusNotFound && media.ValidName(stream) {
				t.Fatalf("404 for valid name %q", stream)
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, stream)
		}
	})
}

// TestViewerSpeaksEvents guards the wire assumptions of the overlay and order
// code in watch.js; the browser tests prove it runs.
func TestViewerSpeaksEvents(t *testing.T) {
	srv := newServer(t)
	_, js := get(t, srv.URL+"/static/watch.js", nil)
	for _, want := range []string{
		"createDataChannel('events')",
		"LivedropPlayer.eventSocket(",
		"requestVideoFrameCallback",
		"meta.rtpTimestamp",
		"getSynchronizationSources()",
		"((ts - mt) >>> 0) < 0x80000000",
		"'/v1/drops/'", "'/orders'",
		"'Idempotency-Key': idem",
		"crypto.randomUUID()",
		"localStorage",
		"LivedropPlayer.formatMoney(ov.price_cents, ov.currency)",
		"'Order confirmed'", "'Sold out'", "'Drop not open'", "'Limit reached'",
		"'Too many taps, try again'", "'Could not place order, try again'",
		"lastFrameRtpTimestamp", "overlays:",
		"ov.member_price_cents", "ov.members_until_ms", "'Members only until '", "'Member price '", "data.code === 'members_only'",
	} {
		if !strings.Contains(js, want) {
			t.Errorf("watch.js lacks %s", want)
		}
	}
	_, page := get(t, srv.URL+"/watch/shop1", nil)
	if strings.Index(page, "player.js") > strings.Index(page, "watch.js") {
		t.Error("watch.js is loaded before player.js, which it uses")
	}
}

func newConsoleServer(t *testing.T) *httptest.Server {
	t.Helper()
	u, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(u.ConsoleHandler())
	t.Cleanup(srv.Close)
	return srv
}

func TestConsolePage(t *testing.T) {
	srv := newConsoleServer(t)
	res, body := get(t, srv.URL+"/console", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q, want no-cache", cc)
	}
	for _, id := range []string{
		"token", "login", "login-error", "stream", "video", "status", "drop", "open-drop", "close-drop",
		"sold", "left", "orders", "revenue", "skus", "overlays", "countdown-start", "notice",
		"obs-server", "obs-key", "key-rotate", "key-revoke", "end-publisher", "golive-link",
	} {
		if !strings.Contains(body, `data-testid="`+id+`"`) {
			t.Errorf("console lacks data-testid %q", id)
		}
	}
	if !strings.Contains(body, `type="password"`) {
		t.Error("the token field is not a password field")
	}
	refs := regexp.MustCompile(`(?:src|href)="(/[^"]*static/[^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(refs) != 8 {
		t.Fatalf("console references %d assets, want 8 (the publish, orders, drops and giveaway panels' scripts too): %v", len(refs), refs)
	}
	want := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	for _, ref := range refs {
		url := strings.ReplaceAll(ref[1], "&amp;", "&")
		if !strings.HasPrefix(url, "/console/static/") {
			t.Errorf("console asset %s not under /console/static/", url)
		}
		ext := url[strings.LastIndex(url, "."):strings.Index(url, "?")]
		res, body := get(t, srv.URL+url, nil)
		if res.StatusCode != http.StatusOK || len(body) < 100 {
			t.Errorf("GET %s: status %d, %d bytes", url, res.StatusCode, len(body))
		}
		if ct := res.Header.Get("Content-Type"); ct != want[ext] {
			t.Errorf("GET %s: Content-Type %q", url, ct)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s: Cache-Control %q", url, cc)
		}
	}
	_, js := get(t, srv.URL+"/console/static/console.js", nil)
	for _, want := range []string{
		"'Authorization': 'Bearer ' + token", "sessionStorage", "'/v1/drops/'", "'/overlays'",
		"type: 'product'", "type: 'countdown'", "'DELETE'", "/open", "LivedropPlayer.eventSocket(",
	} {
		if !strings.Contains(js+"/open", want) {
			t.Errorf("console.js lacks %s", want)
		}
	}
	if strings.Contains(js, "location.search") || strings.Contains(js, "?token") {
		t.Error("console.js reads or writes a token in the URL")
	}

	res, _ = get(t, srv.URL+"/console/nope.js", nil)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /console/nope.js: status %d, want 404", res.StatusCode)
	}
	// The viewer page is not part of the console's handler.
	res, _ = get(t, srv.URL+"/watch/shop1", nil)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /watch/shop1 on the console handler: status %d, want 404", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/", nil)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/console" {
		t.Errorf("GET /console/: %d to %q, want 301 to /console", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestBothOnOneMux checks that an origin and an edge sharing one mux (as a
// test harness might) can mount both pages.
func TestBothOnOneMux(t *testing.T) {
	u, err := New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.Register(mux)
	u.RegisterConsole(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, p := range []string{"/watch/demo", "/console", "/static/player.js", "/console/static/console.js"} {
		if res, _ := get(t, srv.URL+p, nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
	}
}

func TestContentSecurityPolicy(t *testing.T) {
	srv := newServer(t)
	csrv := newConsoleServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	chost := strings.TrimPrefix(csrv.URL, "http://")
	for name, tc := range map[string]struct{ url, host string }{
		"watch":   {srv.URL + "/watch/shop1", host},
		"console": {csrv.URL + "/console", chost},
	} {
		t.Run(name, func(t *testing.T) {
			res, _ := get(t, tc.url, nil)
			csp := res.Header.Get("Content-Security-Policy")
			directives := map[string]string{}
			for _, d := range strings.Split(csp, ";") {
				name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
				directives[name] = value
			}
			for dir, want := range map[string][]string{
				"default-src": {"'none'"},
				"script-src":  {"'self'"},
				"style-src":   {"'self'"},
				"connect-src": {"'self'", "ws://" + tc.host, "wss://" + tc.host},
				"media-src":   {"blob:"},
			} {
				for _, w := range want {
					if !strings.Contains(" "+directives[dir]+" ", " "+w+" ") {
						t.Errorf("%s %q lacks %s", dir, directives[dir], w)
					}
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("CSP allows unsafe code: %s", csp)
			}
		})
	}
}

func TestCSPHostIsSanitized(t *testing.T) {
	for host, wantWS := range map[string]bool{
		"edge.example.com:8080": true,
		"127.0.0.1:8080":        true,
		"[::1]:8080":            true,
		"localhost":             true,
		"a;script-src *":        false,
		"a b":                   false,
		"":                      false,
		"a'b":                   false,
	} {
		csp := contentSecurityPolicy(host, "")
		if got := strings.Contains(csp, "ws://"); got != wantWS {
			t.Errorf("host %q: ws source in CSP = %v, want %v: %s", host, got, wantWS, csp)
		}
		if strings.Count(csp, ";") != 8 {
			t.Errorf("host %q: CSP has %d directives: %s", host, strings.Count(csp, ";")+1, csp)
		}
	}
}

// TestFormatMoney runs the one price formatter of both pages in Chromium:
// amounts are in the currency's ISO 4217 minor units, whatever digits the
// browser's locale data shows for it.
func TestFormatMoney(t *testing.T) {
	u, err := New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.Register(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><script src="/static/player.js"></script>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := chrometest.Start(t)
	p, err := b.Open(ctx, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	for _, tc := range []struct {
		minor    int64
		currency string
		major    float64 // the amount formatMoney must show
		digits   int     // with this many fraction digits
		enUS     string  // what it reads in en-US
	}{
		{2500, "EUR", 25, 2, "€25.00"},
		{2500, "", 25, 2, "€25.00"}, // no currency: EUR
		{199, "USD", 1.99, 2, "$1.99"},
		{2500, "JPY", 2500, 0, "¥2,500"},
		{2500, "KRW", 2500, 0, "₩2,500"},
		{2500, "BHD", 2.5, 3, "BHD\u00a02.500"},
		{2500, "KWD", 2.5, 3, "KWD\u00a02.500"},
		{2500, "TND", 2.5, 3, "TND\u00a02.500"},
		// ISO 4217 gives HUF and IQD 2 and 3 digits, Chromium's locale data 0:
		// the amount must not be read as whole forints or dinars.
		{250000, "HUF", 2500, 2, "HUF\u00a02,500.00"},
		{2500, "IQD", 2.5, 3, "IQD\u00a02.500"},
	} {
		t.Run(cmp.Or(tc.currency, "none"), func(t *testing.T) {
			cur, _ := json.Marshal(tc.currency)
			want, _ := json.Marshal(cmp.Or(tc.currency, "EUR"))
			var res struct{ Got, Want, Lang string }
			err := p.Eval(ctx, fmt.Sprintf(`({
				got: LivedropPlayer.formatMoney(%d, %s),
				want: new Intl.NumberFormat(undefined, {style: 'currency', currency: %s,
					minimumFractionDigits: %d, maximumFractionDigits: %d}).format(%v),
				lang: navigator.language,
			})`, tc.minor, cur, want, tc.digits, tc.digits, tc.major), &res)
			if err != nil {
				t.Fatal(err)
			}
			if res.Got != res.Want {
				t.Errorf("formatMoney(%d, %q) = %q, want %q", tc.minor, tc.currency, res.Got, res.Want)
			}
			if res.Lang == "en-US" && res.Got != tc.enUS {
				t.Errorf("formatMoney(%d, %q) = %q in en-US, want %q", tc.minor, tc.currency, res.Got, tc.enUS)
			}
		})
	}
}

// The viewer page formats prices with its own ISO 4217 table (MINOR_DIGITS
// in player.js); it must be the server's (internal/money), or the page and
// the edge's regional prices disagree on what an amount means.
func TestPlayerMinorDigitsMatchServer(t *testing.T) {
	js, err := assets.ReadFile("assets/static/player.js")
	if err != nil {
		t.Fatal(err)
	}
	table := regexp.MustCompile(`(?s)const MINOR_DIGITS = new Map\(\[(.*?)\]\);`).FindSubmatch(js)
	if table == nil {
		t.Fatal("MINOR_DIGITS not found in player.js")
	}
	got := map[string]int{}
	for _, group := range regexp.MustCompile(`(?s)\[([^\[\]]*)\]\.map\(\(c\) => \[c, (\d)\]\)`).FindAllSubmatch(table[1], -1) {
		for _, code := range regexp.MustCompile(`'([A-Z]{3})'`).FindAllSubmatch(group[1], -1) {
			got[string(code[1])] = int(group[2][0] - '0')
		}
	}
	want := money.NotTwoDigits()
	if len(got) != len(want) {
		t.Fatalf("player.js lists %d currencies, internal/money %d", len(got), len(want))
	}
	for c, d := range want {
		if got[c] != d {
			t.Errorf("%s: player.js %d digits, internal/money %d", c, got[c], d)
		}
	}
}

// TestCSPConnectsToSiblings: ConnectTo adds the siblings' origins and their
// WebSocket forms to connect-src; anything that is not a plain origin is
// left out.
func TestCSPConnectsToSiblings(t *testing.T) {
	u, err := New()
	if err != nil {
		t.Fatal(err)
	}
	u.ConnectTo([]string{"http://10.0.0.2:8080", "https://edge-b.example.com", "ftp://x", "http://a;script-src *"})
	csp := contentSecurityPolicy("edge-a:8080", u.connect)
	want := "connect-src 'self' ws://edge-a:8080 wss://edge-a:8080 http://10.0.0.2:8080 ws://10.0.0.2:8080 https://edge-b.example.com wss://edge-b.example.com;"
	if !strings.Contains(csp, want) || strings.Count(csp, ";") != 8 || strings.Contains(csp, "ftp") {
		t.Fatalf("CSP %s\nwant %s", csp, want)
	}
}
