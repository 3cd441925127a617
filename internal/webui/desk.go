package webui

import "net/http"

// serveDesk serves the seller's pickup desk, GET /desk[?desk=NAME]: a phone
// or tablet at the stall that caches the day's pickup list, marks codes
// collected while the venue's internet is down, and syncs them later
// (static/desk.js; the origin's /v1/pickups routes).
func (u *UI) serveDesk(w http.ResponseWriter, r *http.Request) {
	u.servePage(w, r, u.desk, nil)
}
