package webui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"text/template"
)

// serveDesk serves the seller's pickup desk, GET /desk[?desk=NAME]: a phone
// or tablet at the stall that caches the day's pickup list, marks codes
// collected while the venue's internet is down, and syncs them later
// (static/desk.js; the origin's /v1/pickups routes).
func (u *UI) serveDesk(w http.ResponseWriter, r *http.Request) {
	u.servePage(w, r, u.desk, nil)
}

// DeskWorkerPath is the desk's service worker (scope /desk): it keeps the
// desk page and its assets in the browser's cache, so a reload or a browser
// restart at the stall while the venue is offline brings the page back.
const DeskWorkerPath = "/desk-sw.js"

// deskAssets are the static assets desk.html names (the worker caches them).
var deskAssets = []string{"player.css", "console.css", "desk.css", "desk.js"}

// deskWorker renders the service worker with the versioned URLs of the
// desk's assets: a new build of any of them is a new worker, which the
// browser installs (caching the new assets) the next time the desk is online.
func (u *UI) deskWorker() ([]byte, error) {
	urls := make([]string, 0, len(deskAssets))
	for _, name := range deskAssets {
		url, err := u.staticURL(consoleStaticPrefix)(name)
		if err != nil {
			return nil, err
		}
		urls = append(urls, url)
	}
	list, err := json.Marshal(urls)
	if err != nil {
		return nil, err
	}
	t, err := template.ParseFS(assets, "assets/desk-sw.js")
	if err != nil {
		return nil, fmt.Errorf("webui: parse desk-sw.js: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, map[string]string{"Assets": string(list)}); err != nil {
		return nil, fmt.Errorf("webui: render desk-sw.js: %w", err)
	}
	return buf.Bytes(), nil
}

// serveDeskWorker serves the desk's service worker, revalidated on every
// load (browsers check it for updates when the desk is online).
func (u *UI) serveDeskWorker(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	setSecurityHeaders(h)
	h.Set("Content-Length", fmt.Sprint(len(u.deskSW)))
	_, _ = w.Write(u.deskSW)
}
