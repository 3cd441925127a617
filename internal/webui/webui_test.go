package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
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
	_, page := get(t, srv.URL+"/watch/shop1", nil)
	refs := assetRef.FindAllStringSubmatch(page, -1)
	if len(refs) != 2 {
		t.Fatalf("page references %d static assets, want 2 (JS and CSS): %v", len(refs), refs)
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
		if got := ValidStreamName(name); got != want {
			t.Errorf("ValidStreamName(%q) = %v, want %v", name, got, want)
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
			if !ValidStreamName(stream) {
				t.Fatalf("page served for invalid name %q", stream)
			}
			if !strings.Contains(rec.Body.String(), `data-stream="`+stream+`"`) {
				t.Fatalf("page for %q lacks its name", stream)
			}
		case http.StatusNotFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			if rec.Code == http.StatusNotFound && ValidStreamName(stream) {
				t.Fatalf("404 for valid name %q", stream)
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, stream)
		}
	})
}
