package chrometest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// loopbackPage connects two RTCPeerConnections in one page and sends a canvas
// that changes every frame from one to the other. Each side hands the other
// only its 127.0.0.1 host candidates, so the connection stands only if
// Chromium gathers loopback candidates, which a server on loopback (pion in
// the other tests) needs; without the flags Chromium offers only mDNS names.
const loopbackPage = `<!doctype html>
<html><body>
<canvas id="c" width="320" height="180"></canvas>
<video id="v" autoplay playsinline muted></video>
<script>
'use strict';
const canvas = document.getElementById('c');
const g = canvas.getContext('2d');
let n = 0;
function draw() {
  n++;
  g.fillStyle = 'hsl(' + (n * 7 % 360) + ' 80% 50%)';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = '#fff';
  g.font = '48px sans-serif';
  g.fillText(String(n), 20, 100);
}
setInterval(draw, 33);
draw();

window.candidates = [];
const sender = new RTCPeerConnection();
const receiver = new RTCPeerConnection();
window.receiver = receiver;
const loopback = (c) => / 127\.0\.0\.1 \d+ typ host/.test(c.candidate);
sender.onicecandidate = (e) => {
  if (!e.candidate) { window.gathered = true; return; }
  candidates.push(e.candidate.candidate);
  if (loopback(e.candidate)) receiver.addIceCandidate(e.candidate);
};
receiver.onicecandidate = (e) => { if (e.candidate && loopback(e.candidate)) sender.addIceCandidate(e.candidate); };
receiver.ontrack = (e) => { document.getElementById('v').srcObject = e.streams[0]; };
const stream = canvas.captureStream(30);
stream.getTracks().forEach((t) => sender.addTrack(t, stream));
(async () => {
  await sender.setLocalDescription(await sender.createOffer());
  await receiver.setRemoteDescription(sender.localDescription);
  await receiver.setLocalDescription(await receiver.createAnswer());
  await sender.setRemoteDescription(receiver.localDescription);
})().catch((e) => { window.setupError = String(e); });
</script>
</body></html>`

const framesDecodedJS = `(async () => {
  let n = 0;
  (await receiver.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') n = r.framesDecoded || 0;
  });
  return n;
})()`

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func htmlHandler(page string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})
}

func dumpOnFailure(t *testing.T, p *chrometest.Page) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("page console:\n%s", strings.Join(p.Console(), "\n"))
		}
	})
}

// TestLoopbackWebRTC proves that the browser's flags make WebRTC work headless
// on this machine: ICE connects over loopback and the receiver decodes video.
func TestLoopbackWebRTC(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	b := chrometest.Start(t)
	srv := serve(t, htmlHandler(loopbackPage))
	p, err := b.Open(ctx, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, p)

	if err := p.WaitFor(ctx, "window.gathered", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var cands []string
	if err := p.Eval(ctx, "window.candidates", &cands); err != nil {
		t.Fatal(err)
	}
	if !containsAny(cands, " 127.0.0.1 ") {
		t.Fatalf("Chromium gathered no 127.0.0.1 host candidate (flags or permissions not in effect): %q", cands)
	}
	if err := p.WaitFor(ctx, "receiver.connectionState === 'connected' || window.setupError", 30*time.Second); err != nil {
		t.Fatalf("peer connection never connected: %v (sender's ICE candidates: %q)", err, cands)
	}
	var setupErr string
	if err := p.Eval(ctx, "window.setupError || ''", &setupErr); err != nil || setupErr != "" {
		t.Fatalf("negotiation failed: %q %v", setupErr, err)
	}
	if err := p.WaitFor(ctx, framesDecodedJS+".then((n) => n > 10)", 30*time.Second); err != nil {
		var n int
		_ = p.Eval(ctx, framesDecodedJS, &n)
		t.Fatalf("receiver decoded %d frames: %v", n, err)
	}
	var pair string
	if err := p.Eval(ctx, selectedPairJS, &pair); err != nil {
		t.Fatal(err)
	}
	// The remote side is the sender's 127.0.0.1 candidate, or, once the
	// pair was learnt from a check, a peer-reflexive one whose address
	// Chromium's stats leave out. The receiver's end is one of this host's
	// candidates: loopback, or the host's own interface address (seen in
	// CI: 192.0.2.2, this machine's eth0, reaching 127.0.0.1 locally).
	local, remote, ok := strings.Cut(pair, " -> ")
	if !ok || local == "" || !(strings.HasPrefix(remote, "127.0.0.1:") || strings.HasPrefix(remote, "prflx:")) {
		t.Fatalf("selected candidate pair %q, want loopback to the sender's 127.0.0.1 candidate", pair)
	}
}

// selectedPairJS describes the receiver's selected ICE candidate pair as
// "local -> remote".
const selectedPairJS = `(async () => {
  const s = await receiver.getStats();
  let id = '';
  s.forEach((r) => { if (r.type === 'transport' && r.selectedCandidatePairId) id = r.selectedCandidatePairId; });
  const p = s.get(id);
  if (!p) return 'none';
  const l = s.get(p.localCandidateId), r = s.get(p.remoteCandidateId);
  return l.address + ':' + l.port + ' -> ' + (r.address || r.candidateType) + ':' + r.port;
})()`

func containsAny(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestPageHelpers covers Eval, Text, WaitFor's failure, SetViewport and
// Screenshot on a static page.
func TestPageHelpers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	b := chrometest.Start(t)
	srv := serve(t, htmlHandler(`<!doctype html><meta name="viewport" content="width=device-width"><p id="x">hello <b>world</b></p>
<script>console.log('ready', 42); setTimeout(() => { window.later = true; }, 200);</script>`))
	p, err := b.Open(ctx, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}

	var sum int
	if err := p.Eval(ctx, "Promise.resolve(40 + 2)", &sum); err != nil || sum != 42 {
		t.Fatalf("Eval = %d, %v; want 42", sum, err)
	}
	if err := p.Eval(ctx, "undefinedVariable.x", nil); err == nil {
		t.Fatal("Eval of a throwing expression: no error")
	}
	if got, err := p.Text(ctx, "#x"); err != nil || got != "hello world" {
		t.Fatalf("Text = %q, %v", got, err)
	}
	if _, err := p.Text(ctx, "#missing"); err == nil {
		t.Fatal("Text of a missing element: no error")
	}
	if err := p.WaitFor(ctx, "window.later === true", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.WaitFor(ctx, "false", 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not true after") {
		t.Fatalf("WaitFor(false) = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("WaitFor(false, 300ms) took %v", d)
	}
	if !containsAny(p.Console(), "ready 42") {
		t.Errorf("console not captured: %q", p.Console())
	}

	if err := p.SetViewport(ctx, 360, 740); err != nil {
		t.Fatal(err)
	}
	var width int
	if err := p.Eval(ctx, "window.innerWidth", &width); err != nil || width != 360 {
		t.Fatalf("innerWidth = %d, %v; want 360", width, err)
	}
	shot := filepath.Join(t.TempDir(), "shot.png")
	if err := p.Screenshot(ctx, shot); err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 100 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}

	// A cancelled context stops a wait at once.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if err := p.WaitFor(cctx, "false", time.Minute); err == nil {
		t.Fatal("WaitFor with a cancelled context: no error")
	}
	// The page still works afterwards.
	if err := p.Eval(ctx, "1", nil); err != nil {
		t.Fatalf("Eval after a cancelled call: %v", err)
	}
}

// TestNoLeakedProcesses checks that no Chromium process outlives the test
// that started it.
func TestNoLeakedProcesses(t *testing.T) {
	var dir string
	var pid int
	t.Run("browser", func(t *testing.T) {
		b := chrometest.Start(t)
		dir, pid = b.UserDataDir(), b.PID()
		if pid <= 0 {
			t.Fatal("no browser pid")
		}
		if n := processesWith(t, dir); n < 2 {
			t.Fatalf("%d processes with %s in their command line while running, want several", n, dir)
		}
	})
	if n := processesWith(t, dir); n != 0 {
		t.Fatalf("%d Chromium processes left after cleanup", n)
	}
}

// processesWith counts the processes whose command line contains s.
func processesWith(t *testing.T, s string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.Contains(string(stat), ") Z ") {
			continue // a zombie holds no resources but its pid
		}
		if strings.Contains(string(cmdline), s) {
			n++
		}
	}
	return n
}

func TestOpenRejectsNonHTTP(t *testing.T) {
	b := chrometest.Start(t)
	if _, err := b.Open(t.Context(), "file:///etc/passwd"); err == nil {
		t.Fatal("Open(file://): no error")
	}
}

// TestClickAndType covers Click and Type on a static page.
func TestClickAndType(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	b := chrometest.Start(t)
	srv := serve(t, htmlHandler(`<!doctype html><input id="i" value="old"><button id="b" onclick="window.clicked = (window.clicked || 0) + 1">go</button>
<div id="later"></div><script>
document.getElementById('i').addEventListener('change', () => { window.changed = document.getElementById('i').value; });
setTimeout(() => { document.getElementById('later').innerHTML = '<button id="c" onclick="window.late = true">late</button>'; }, 300);
</script>`))
	p, err := b.Open(ctx, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, "#b"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := p.Eval(ctx, "window.clicked", &n); err != nil || n != 1 {
		t.Fatalf("clicked %d times, %v; want 1", n, err)
	}
	// Click waits for an element that appears later.
	if err := p.Click(ctx, "#c"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, "window.late", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Type(ctx, "#i", "new\r"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, "window.changed === 'new'", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if err := p.Click(short, "#missing"); err == nil {
		t.Fatal("Click of a missing element: no error")
	}
}
