package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestGoLivePagePublishesOverWHIP: a seller opens /golive/{stream} on the
// origin in Chromium, phone-sized (its test camera and microphone),
// enters the stream key, presses Go live; the page says LIVE; a viewer at
// an edge decodes the picture and gets the sound, and so does a second
// Chromium tab on the edge's watch page (frames decoded, audio energy);
// the page shows the 2 watching on the edge. A wrong key is refused with
// the reason; Stop ends the session at the origin; the key is remembered.
func TestGoLivePagePublishesOverWHIP(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	// The test microphone is silent but for a beep Chromium may never
	// make here: it plays a 440 Hz tone instead, which the tab on the
	// edge must hear.
	tone := filepath.Join(t.TempDir(), "tone.wav")
	if out, err := exec.Command(requireTool(t, "ffmpeg"), "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
		"-c:a", "pcm_s16le", tone).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	old := chrometest.Flags
	chrometest.Flags = append(append([]string(nil), old...), "--use-file-for-fake-audio-capture="+tone)
	b := chrometest.Start(t)
	chrometest.Flags = old
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	page, err := b.Open(ctx, "http://"+o.HTTPAddr()+"/golive/phone")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	tid := func(id string) string { return `[data-testid="` + id + `"]` }
	// A phone: nothing wider than the screen, the buttons on it.
	if err := page.SetViewport(ctx, 390, 844); err != nil {
		t.Fatal(err)
	}
	var fits bool
	if err := page.Eval(ctx, `document.documentElement.scrollWidth <= innerWidth && ['start', 'stop', 'key', 'camera', 'preview'].every((id) => {
		const r = document.querySelector('[data-testid="' + id + '"]').getBoundingClientRect();
		return r.width > 0 && r.left >= 0 && r.right <= innerWidth; })`, &fits); err != nil || !fits {
		t.Fatalf("the go-live page does not fit a 390 px wide phone (%v)", err)
	}
	if err := page.WaitFor(ctx, `document.querySelector('[data-testid="preview"]').videoWidth > 0`, 20*time.Second); err != nil {
		t.Fatalf("no camera preview (console %v): %v", page.Console(), err)
	}

	if err := page.Type(ctx, tid("key"), "not-the-key"); err != nil {
		t.Fatal(err)
	}
	if err := page.Click(ctx, tid("start")); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `document.querySelector('[data-testid="notice"]').textContent.includes('wrong stream key')`, 20*time.Second); err != nil {
		msg, _ := page.Text(ctx, tid("notice"))
		t.Fatalf("wrong key: notice %q: %v", msg, err)
	}
	if err := page.Eval(ctx, `document.querySelector('[data-testid="key"]').value = ''`, nil); err != nil {
		t.Fatal(err)
	}
	if err := page.Type(ctx, tid("key"), pubPass); err != nil {
		t.Fatal(err)
	}
	if err := page.Click(ctx, tid("start")); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `document.querySelector('[data-testid="live-state"]').textContent === 'LIVE'`, 30*time.Second); err != nil {
		msg, _ := page.Text(ctx, tid("notice"))
		t.Fatalf("page never said LIVE (notice %q, console %v): %v", msg, page.Console(), err)
	}
	v := mustViewer(t, "http://"+e.HTTPAddr()+"/whep/phone")
	waitFor(t, 30*time.Second, "the edge viewer to decode 30 frames and get 50 audio packets of the browser's camera", func() bool {
		_, na := v.counts()
		return v.frames() >= 30 && na >= 50
	})
	tab, err := b.Open(ctx, "http://"+e.HTTPAddr()+"/watch/phone")
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if err := tab.WaitFor(ctx, `(async () => (await window.livedrop.framesDecoded()) > 30)()`, 30*time.Second); err != nil {
		t.Fatalf("the watch tab on the edge decoded no video (console %v): %v", tab.Console(), err)
	}
	// As a viewer who taps the sound on (the page starts muted, as
	// autoplay needs).
	if err := tab.Eval(ctx, `document.querySelector('[data-testid="video"]').muted = false`, nil); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(ctx, `(async () => { let e = 0; (await window.livedrop.pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') e = r.totalAudioEnergy || 0; }); return e > 0; })()`, 20*time.Second); err != nil {
		var st string
		_ = tab.Eval(ctx, `(async () => { let a = ''; (await window.livedrop.pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') a = JSON.stringify(r); }); return a; })()`, &st)
		t.Fatalf("the watch tab on the edge hears nothing (totalAudioEnergy 0; %s): %v", st, err)
	}
	// The pion viewer and the tab watch on the edge; the origin knows
	// from the edge's report, and the LIVE state shows it.
	if err := page.WaitFor(ctx, `document.querySelector('[data-testid="viewers"]').dataset.count === '2' && !document.querySelector('[data-testid="viewers"]').hidden`, 15*time.Second); err != nil {
		msg, _ := page.Text(ctx, tid("viewers"))
		t.Fatalf("the go-live page shows %q watching, want 2: %v", msg, err)
	}
	var remembered bool
	if err := page.Eval(ctx, `localStorage.getItem('livedrop.publishKey.phone') === `+jsString(pubPass), &remembered); err != nil || !remembered {
		t.Fatalf("the key was not remembered (%v)", err)
	}
	if err := page.Click(ctx, tid("stop")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the origin to end the browser's session", func() bool { return o.WHIPPublishers() == 0 })
}

func jsString(s string) string {
	b := []byte{'\''}
	for _, c := range []byte(s) {
		if c == '\'' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return string(append(b, '\''))
}
