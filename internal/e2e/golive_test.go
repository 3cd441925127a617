package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestGoLivePagePublishesOverWHIP: a seller opens /golive/{stream} on the
// origin in Chromium (its test camera and microphone), enters the stream
// key, presses Go live; the page says LIVE and a viewer at an edge decodes
// the picture and gets the sound. A wrong key is refused with the reason;
// Stop ends the session at the origin; the key is remembered.
func TestGoLivePagePublishesOverWHIP(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	page, err := b.Open(ctx, "http://"+o.HTTPAddr()+"/golive/phone")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	tid := func(id string) string { return `[data-testid="` + id + `"]` }
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
