package chrometest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/webui"
)

// whepRequest is what a fake WHEP endpoint saw.
type whepRequest struct {
	method, path, contentType, body string
}

// fakeWHEP serves webui's pages and a /whep/ endpoint whose answers come
// from answer; it records every request.
type fakeWHEP struct {
	mu       sync.Mutex
	requests []whepRequest
	notify   chan whepRequest
	answer   func(r *http.Request, offer string) (status int, body string)
}

func newFakeWHEP(t *testing.T, answer func(r *http.Request, offer string) (int, string)) (*fakeWHEP, *http.ServeMux, *httptest.Server) {
	t.Helper()
	f := &fakeWHEP{answer: answer, notify: make(chan whepRequest, 100)}
	u, err := webui.New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.Register(mux)
	mux.HandleFunc("/whep/", f.serve)
	return f, mux, serve(t, mux)
}

func (f *fakeWHEP) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req := whepRequest{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: string(body)}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	select {
	case f.notify <- req:
	default:
	}
	switch r.Method {
	case http.MethodPost:
		status, text := f.answer(r, string(body))
		if status == http.StatusCreated {
			w.Header().Set("Content-Type", "application/sdp")
			w.Header().Set("Location", r.URL.Path+"/sessions/"+fmt.Sprint(f.count(http.MethodPost)))
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
	case http.MethodDelete:
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (f *fakeWHEP) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r.method == method {
			n++
		}
	}
	return n
}

func (f *fakeWHEP) first(method string) (whepRequest, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if r.method == method {
			return r, true
		}
	}
	return whepRequest{}, false
}

// waitRequest waits for a request with the given method and path prefix.
func (f *fakeWHEP) waitRequest(t *testing.T, method, pathPrefix string, timeout time.Duration) whepRequest {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case r := <-f.notify:
			if r.method == method && strings.HasPrefix(r.path, pathPrefix) {
				return r
			}
		case <-deadline:
			t.Fatalf("no %s %s* within %v", method, pathPrefix, timeout)
		}
	}
}

func checkOffer(t *testing.T, r whepRequest) {
	t.Helper()
	if r.contentType != "application/sdp" {
		t.Errorf("offer Content-Type %q, want application/sdp", r.contentType)
	}
	if !strings.HasPrefix(r.body, "v=0") {
		t.Errorf("offer is not SDP: %.60q", r.body)
	}
	for _, kind := range []string{"video", "audio"} {
		i := strings.Index(r.body, "m="+kind)
		if i < 0 {
			t.Errorf("offer has no m=%s section", kind)
			continue
		}
		section := r.body[i:]
		if j := strings.Index(section[2:], "\nm="); j >= 0 {
			section = section[:j+2]
		}
		if !strings.Contains(section, "a=recvonly") {
			t.Errorf("offer's m=%s is not recvonly", kind)
		}
	}
}

func openWatch(ctx context.Context, t *testing.T, b *chrometest.Browser, url string) *chrometest.Page {
	t.Helper()
	p, err := b.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, p)
	return p
}

const statusJS = `document.querySelector('[data-testid="status"]').textContent`

func TestWatchPageOffline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	b := chrometest.Start(t)
	f, _, srv := newFakeWHEP(t, func(*http.Request, string) (int, string) {
		return http.StatusNotFound, "stream not found\n"
	})
	p := openWatch(ctx, t, b, srv.URL+"/watch/shop1")

	if err := p.WaitFor(ctx, statusJS+" === 'stream offline'", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Text(ctx, `[data-testid="status"]`); err != nil || got != "stream offline" {
		t.Fatalf("status %q, %v", got, err)
	}
	var st string
	if err := p.Eval(ctx, "window.livedrop.status()", &st); err != nil || st != "stream offline" {
		t.Fatalf("livedrop.status() = %q, %v", st, err)
	}
	r, _ := f.first(http.MethodPost)
	if r.path != "/whep/shop1" {
		t.Errorf("offer posted to %q, want /whep/shop1", r.path)
	}
	checkOffer(t, r)

	// It keeps trying, about every 3 s, and keeps saying offline meanwhile.
	start := time.Now()
	n := f.count(http.MethodPost)
	if err := p.WaitFor(ctx, "true", time.Second); err != nil {
		t.Fatal(err)
	}
	for f.count(http.MethodPost) == n {
		if time.Since(start) > 10*time.Second {
			t.Fatal("no retry within 10 s of going offline")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v, want about 3 s", d)
	}
	if got, _ := p.Text(ctx, `[data-testid="status"]`); got != "stream offline" {
		t.Errorf("status while retrying %q", got)
	}
}

func TestWatchPageError(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	b := chrometest.Start(t)
	_, _, srv := newFakeWHEP(t, func(*http.Request, string) (int, string) {
		return http.StatusInternalServerError, "boom\n"
	})
	p := openWatch(ctx, t, b, srv.URL+"/watch/shop1")
	if err := p.WaitFor(ctx, statusJS+".startsWith('error: ')", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := p.Text(ctx, `[data-testid="status"]`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, "boom") {
		t.Fatalf("status %q, want error: ... boom", got)
	}
}

// publisherPage answers WHEP offers from a canvas, standing in for the edge.
const publisherPage = `<!doctype html><html><body>
<canvas id="c" width="640" height="360"></canvas>
<script>
'use strict';
const canvas = document.getElementById('c');
const g = canvas.getContext('2d');
let n = 0;
setInterval(() => {
  n++;
  g.fillStyle = 'hsl(' + (n * 3 % 360) + ' 60% 35%)';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = '#fff';
  g.font = 'bold 64px sans-serif';
  g.fillText('LIVE ' + n, 40, 200);
}, 33);
const track = canvas.captureStream(30).getVideoTracks()[0];
window.pcs = [];
window.answer = async (offer) => {
  const pc = new RTCPeerConnection();
  pcs.push(pc);
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  for (const t of pc.getTransceivers()) {
    if (t.receiver.track.kind === 'video') {
      await t.sender.replaceTrack(track);
      t.direction = 'sendonly';
    } else {
      t.direction = 'inactive';
    }
  }
  await pc.setLocalDescription(await pc.createAnswer());
  // No trickle in this fake: wait for our candidates to be in the answer.
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    setTimeout(resolve, 5000);
  });
  return pc.localDescription.sdp;
};
</script></body></html>`

const viewerFramesJS = `(async () => {
  const pc = window.livedrop.pc;
  if (!pc) return 0;
  let n = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') n = r.framesDecoded || 0;
  });
  return n;
})()`

// TestWatchPagePlays runs the whole player against a WHEP endpoint answered
// by another tab: offline first, then playing, a reconnect when the session
// dies, and a DELETE of the session when the page goes away.
func TestWatchPagePlays(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	b := chrometest.Start(t)

	var pub *chrometest.Page
	online := make(chan struct{}) // the stream is offline until closed
	f, mux, srv := newFakeWHEP(t, func(r *http.Request, offer string) (int, string) {
		select {
		case <-online:
		default:
			return http.StatusNotFound, "offline"
		}
		var answer string
		js, _ := json.Marshal(offer)
		if err := pub.Eval(r.Context(), "answer("+string(js)+")", &answer); err != nil {
			return http.StatusInternalServerError, err.Error()
		}
		return http.StatusCreated, answer
	})
	mux.Handle("GET /publisher", htmlHandler(publisherPage))

	var err error
	pub, err = b.Open(ctx, srv.URL+"/publisher")
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, pub)

	p := openWatch(ctx, t, b, srv.URL+"/watch/shop1")
	if err := p.SetViewport(ctx, 360, 740); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, statusJS+" === 'stream offline'", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	close(online)

	if err := p.WaitFor(ctx, "window.livedrop.status() === 'playing'", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, viewerFramesJS+".then((n) => n > 10)", 30*time.Second); err != nil {
		var n int
		_ = p.Eval(ctx, viewerFramesJS, &n)
		t.Fatalf("viewer decoded %d frames: %v", n, err)
	}
	if got, _ := p.Text(ctx, `[data-testid="status"]`); got != "playing" {
		t.Fatalf("status %q, want playing", got)
	}
	r, _ := f.first(http.MethodPost)
	checkOffer(t, r)

	// Layout on a 360 px phone: the video spans the width, the overlay
	// covers the video exactly, the page does not scroll sideways.
	var lay struct {
		Video, Overlay, Stage [4]float64
		ScrollWidth           float64
		Muted                 bool
	}
	err = p.Eval(ctx, `(() => {
	  const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; };
	  return { video: box('[data-testid="video"]'), overlay: box('[data-testid="overlay"]'), stage: box('.stage'),
	           scrollWidth: document.documentElement.scrollWidth, muted: document.querySelector('video').muted };
	})()`, &lay)
	if err != nil {
		t.Fatal(err)
	}
	if lay.Video[0] != 0 || lay.Video[2] != 360 || lay.Video[3] < 200 {
		t.Errorf("video box %v on a 360 px screen, want x=0 width=360 height about 202", lay.Video)
	}
	if lay.Overlay != lay.Video {
		t.Errorf("overlay box %v, video box %v: want the same", lay.Overlay, lay.Video)
	}
	if lay.ScrollWidth > 360 {
		t.Errorf("page is %v px wide on a 360 px screen", lay.ScrollWidth)
	}
	if !lay.Muted {
		t.Error("video starts unmuted")
	}
	if dir := os.Getenv("LIVEDROP_ARTIFACTS"); dir != "" {
		if err := p.Screenshot(ctx, filepath.Join(dir, "watch-playing-360.png")); err != nil {
			t.Error(err)
		}
	}

	// The unmute button toggles sound and says what it will do next.
	var label string
	if err := p.Eval(ctx, `(() => { const b = document.querySelector('[data-testid="mute"]'); b.click();
	  return document.querySelector('video').muted ? 'still muted' : b.getAttribute('aria-label'); })()`, &label); err != nil {
		t.Fatal(err)
	}
	if label != "Mute" {
		t.Errorf("after a click on unmute: %q, want the button labelled Mute", label)
	}

	// The session dies on the server's side: the player reconnects on its
	// own, ends the old session and plays again.
	posts := f.count(http.MethodPost)
	if err := pub.Eval(ctx, "pcs.forEach((pc) => pc.close())", nil); err != nil {
		t.Fatal(err)
	}
	f.waitRequest(t, http.MethodDelete, "/whep/shop1/sessions/", 30*time.Second)
	if err := p.WaitFor(ctx, fmt.Sprintf("window.livedrop.status() === 'playing' && window.livedrop.session().endsWith('/sessions/%d')", posts+1), 40*time.Second); err != nil {
		t.Fatalf("no new session after the old one died: %v", err)
	}

	// Leaving the page ends the session.
	var session string
	if err := p.Eval(ctx, "window.livedrop.session()", &session); err != nil {
		t.Fatal(err)
	}
	if err := p.Navigate(ctx, "about:blank"); err != nil {
		t.Fatal(err)
	}
	d := f.waitRequest(t, http.MethodDelete, "/whep/shop1/sessions/", 10*time.Second)
	if !strings.HasSuffix(session, d.path) {
		t.Errorf("DELETE %s, want the current session %s", d.path, session)
	}
}
