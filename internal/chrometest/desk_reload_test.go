package chrometest_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestPickupDeskReloadOffline: a desk loads online, the venue's uplink
// drops (the origin's listener closed), a code is handed over, and the page
// is reloaded: it comes back from the browser's cache with the day's list
// and the collection not synced yet. The browser is quit and started again
// on its profile, still offline: the desk page opens, the token is typed
// again (it lives in the tab's session only), list and collection are
// there, and a second code is handed over.
// Back online, one sync records both codes, each once, at the origin.
func TestPickupDeskReloadOffline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	desks, code, mux := pickupOrigin(ctx, t)
	var syncs, synced atomic.Int32 // sync requests that reached the origin, and answered 200
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/pickups:sync" {
			syncs.Add(1)
			rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
			mux.ServeHTTP(rec, r)
			if rec.code == http.StatusOK {
				synced.Add(1)
			}
			return
		}
		mux.ServeHTTP(w, r)
	})
	venue := startCutServer(t, counted)
	url := venue.URL() + "/desk?desk=desk-a"

	b := chrometest.Start(t)
	p, err := b.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, p)
	login := func(p *chrometest.Page) {
		t.Helper()
		if err := p.Type(ctx, tid("desk-token"), consoleToken); err != nil {
			t.Fatal(err)
		}
		if err := p.Click(ctx, tid("desk-open")); err != nil {
			t.Fatal(err)
		}
	}
	login(p)
	mustWait(ctx, t, p, `window.livedropDesk && window.livedropDesk.listed() === 2 && window.livedropDesk.offlineReady() &&
		document.querySelector('[data-testid="desk-net"]').textContent === 'online · ready for offline'`, 30*time.Second)

	venue.Cut()
	collect := func(p *chrometest.Page, c string) {
		t.Helper()
		if err := p.Type(ctx, tid("desk-code"), c+"\r"); err != nil {
			t.Fatal(err)
		}
		mustWait(ctx, t, p, `!document.querySelector('[data-testid="desk-collect"]').hidden`, 10*time.Second)
		if err := p.Click(ctx, tid("desk-collect")); err != nil {
			t.Fatal(err)
		}
		mustWait(ctx, t, p, fmt.Sprintf(`window.livedropDesk.state(%q) === 'local'`, c), 10*time.Second)
	}
	collect(p, code[0])
	mustWait(ctx, t, p, `document.querySelector('[data-testid="desk-net"]').dataset.state === 'offline'`, 10*time.Second)

	// What the seller sees after a reload, and after a browser restart: the
	// list of two, code 0 collected here and not synced.
	cached := fmt.Sprintf(`window.livedropDesk && window.livedropDesk.listed() === 2 && window.livedropDesk.unsynced() === 1 &&
		window.livedropDesk.state(%q) === 'local' && document.querySelectorAll('[data-testid="desk-item"]').length === 2 &&
		document.querySelector('[data-testid="desk-item"][data-code=%q]').textContent.includes('not synced yet') &&
		document.querySelector('[data-testid="desk-pending-sync"]').textContent === '1' &&
		document.querySelector('[data-testid="desk-net"]').dataset.state === 'offline'`, code[0], code[0])
	if err := p.Navigate(ctx, url); err != nil {
		t.Fatalf("reload offline: %v", err)
	}
	mustWait(ctx, t, p, cached, 20*time.Second)

	b = b.Restart(t)
	p, err = b.Open(ctx, url)
	if err != nil {
		t.Fatalf("open after a browser restart offline: %v", err)
	}
	dumpOnFailure(t, p)
	mustWait(ctx, t, p, `!document.querySelector('[data-testid="desk-login"]').hidden && document.querySelector('[data-testid="desk-name"]').value === 'desk-a'`, 10*time.Second)
	login(p)
	mustWait(ctx, t, p, cached, 20*time.Second)
	collect(p, code[1])
	if n := syncs.Load(); n != 0 {
		t.Fatalf("%d syncs reached the origin while it was cut off", n)
	}

	venue.Restore()
	mustWait(ctx, t, p, fmt.Sprintf(`window.livedropDesk.unsynced() === 0 && window.livedropDesk.state(%q) === 'collected' &&
		window.livedropDesk.state(%q) === 'collected' && document.querySelector('[data-testid="desk-net"]').dataset.state === 'online'`,
		code[0], code[1]), 30*time.Second)
	if s, ok := syncs.Load(), synced.Load(); s != 1 || ok != 1 {
		t.Fatalf("%d syncs reached the origin (%d answered 200), want 1", s, ok)
	}
	if n := testutil.ToFloat64(desks.Collected()); n != 2 {
		t.Fatalf("the origin counted %v collections, want 2", n)
	}
	for _, c := range code {
		it, err := desks.Lookup(ctx, c)
		if err != nil || it.Collected == nil || it.Collected.Desk != "desk-a" {
			t.Fatalf("origin's read of %s: %+v %v", c, it, err)
		}
	}
}

// statusRecorder notes the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}
