package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/origin"
)

// TestConsoleMakesRotatesAndRevokesPublishKeys: the seller signs in to the
// console on the origin, names the stream and presses New key: the page
// shows what OBS asks for (Server: the origin's WHIP URL of the stream,
// Bearer Token: the new key), and a WHIP publisher with that key goes
// live. New key with "end the live publisher" ends it and the old key is
// refused; Revoke leaves no key that works.
func TestConsoleMakesRotatesAndRevokesPublishKeys(t *testing.T) {
	const token = "console-control-token-0123456789"
	o := startOriginWith(t, nil, func(p *origin.Params) { p.ControlToken = token })
	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	page, err := b.Open(ctx, "http://"+o.HTTPAddr()+"/console")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	tid := func(id string) string { return `[data-testid="` + id + `"]` }
	if err := page.Type(ctx, tid("token"), token); err != nil {
		t.Fatal(err)
	}
	if err := page.Click(ctx, tid("login")); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `!document.querySelector('[data-testid="desk"]').hidden`, 20*time.Second); err != nil {
		t.Fatalf("no desk after login (console %v): %v", page.Console(), err)
	}
	if err := page.Eval(ctx, `(() => { const s = document.querySelector('[data-testid="stream"]'); s.value = 'obs'; s.dispatchEvent(new Event('input')); })()`, nil); err != nil {
		t.Fatal(err)
	}
	value := func(id string) string {
		t.Helper()
		var v string
		if err := page.Eval(ctx, `document.querySelector('[data-testid="`+id+`"]').value`, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	whipURL := "http://" + o.HTTPAddr() + "/whip/obs"
	if got := value("obs-server"); got != whipURL {
		t.Fatalf("OBS Server field %q, want %q", got, whipURL)
	}
	newKey := func(end bool) string {
		t.Helper()
		if err := page.Eval(ctx, `document.querySelector('[data-testid="end-publisher"]').checked = `+map[bool]string{true: "true", false: "false"}[end], nil); err != nil {
			t.Fatal(err)
		}
		before := value("obs-key")
		if err := page.Click(ctx, tid("key-rotate")); err != nil {
			t.Fatal(err)
		}
		if err := page.WaitFor(ctx, `(v => v !== '' && v !== `+jsString(before)+`)(document.querySelector('[data-testid="obs-key"]').value)`, 10*time.Second); err != nil {
			msg, _ := page.Text(ctx, tid("notice"))
			t.Fatalf("no new key shown (notice %q): %v", msg, err)
		}
		return value("obs-key")
	}
	key1 := newKey(false)
	if code, body, _ := postWHIP(t, whipURL, pubPass); code != 401 {
		t.Fatalf("the shared password after the stream got its own key: %d %s, want 401", code, body)
	}
	if code, body, _ := postWHIP(t, whipURL, key1); code != 201 {
		t.Fatalf("OBS with the console's key: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "the publisher to be live", func() bool { return o.WHIPPublishers() == 1 })

	key2 := newKey(true)
	waitFor(t, 10*time.Second, "the rotation to end the live publisher", func() bool { return o.WHIPPublishers() == 0 })
	if msg, _ := page.Text(ctx, tid("notice")); !strings.Contains(msg, "live publisher was ended") {
		t.Fatalf("the notice after a rotation that ends the publisher: %q", msg)
	}
	if code, _, _ := postWHIP(t, whipURL, key1); code != 401 {
		t.Fatalf("the old key after rotation: %d, want 401", code)
	}
	if code, body, _ := postWHIP(t, whipURL, key2); code != 201 {
		t.Fatalf("the new key: %d %s, want 201", code, body)
	}

	if err := page.Eval(ctx, `document.querySelector('[data-testid="end-publisher"]').checked = true`, nil); err != nil {
		t.Fatal(err)
	}
	if err := page.Click(ctx, tid("key-revoke")); err != nil {
		t.Fatal(err)
	}
	if err := page.WaitFor(ctx, `document.querySelector('[data-testid="key-state"]').dataset.state === 'closed'`, 10*time.Second); err != nil {
		msg, _ := page.Text(ctx, tid("notice"))
		t.Fatalf("revoke not shown (notice %q): %v", msg, err)
	}
	waitFor(t, 10*time.Second, "the revoke to end the live publisher", func() bool { return o.WHIPPublishers() == 0 })
	for _, k := range []string{key2, pubPass} {
		if code, _, _ := postWHIP(t, whipURL, k); code != 401 {
			t.Fatalf("a key after revoke: %d, want 401", code)
		}
	}
	var link string
	if err := page.Eval(ctx, `document.querySelector('[data-testid="golive-link"]').getAttribute('href')`, &link); err != nil || link != "/golive/obs" {
		t.Fatalf("go-live link %q (%v)", link, err)
	}
}
