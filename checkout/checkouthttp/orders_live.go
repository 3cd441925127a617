package checkouthttp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// The live order feed: GET /v1/drops/{id}/orders/live is a WebSocket,
// server to client, that sends a drop's new orders and status changes as
// JSON (LiveMessage) within about LivePoll of the store recording them. A
// browser cannot set Authorization on a WebSocket, so it first gets a
// short-lived ticket for the drop (POST .../orders/live/ticket, bearer
// token) and passes it as ?ticket=; other clients may send the bearer token.

// Bounds of the live feed.
const (
	// LivePoll is how often a feed reads the store.
	LivePoll = 250 * time.Millisecond
	// MaxLiveFeeds is the most feeds open at once on one origin.
	MaxLiveFeeds = 32
	// LiveTicketTTL is how long a ticket opens a feed.
	LiveTicketTTL = 30 * time.Second

	livePing         = 15 * time.Second
	liveWriteTimeout = 5 * time.Second
)

// LiveMessage is one message of the feed: the orders that are new or
// changed, oldest first, and the drop's order count; Skipped new orders
// came in a burst too large to send (read them with GET .../orders).
type LiveMessage struct {
	Type    string           `json:"type"` // "orders"
	Drop    string           `json:"drop"`
	Orders  []checkout.Order `json:"orders"`
	Total   int              `json:"total"`
	Skipped int              `json:"skipped,omitempty"`
}

// liveFeeds owns the feeds' sockets: run closes them all at shutdown.
type liveFeeds struct {
	up      websocket.Upgrader
	mu      sync.Mutex
	conns   map[*websocket.Conn]struct{}
	open    int
	closing bool
	wg      sync.WaitGroup
}

func newLiveFeeds() *liveFeeds {
	return &liveFeeds{conns: map[*websocket.Conn]struct{}{}, up: websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 8192, CheckOrigin: sameOrigin}}
}

// sameOrigin lets a request without Origin (not a browser) and the
// console's own page through; never another site.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// admit takes a place for one feed, or false at the cap or shutdown.
func (f *liveFeeds) admit() (release func(), ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing || f.open >= MaxLiveFeeds {
		return nil, false
	}
	f.open++
	f.wg.Add(1)
	return func() {
		f.mu.Lock()
		f.open--
		f.mu.Unlock()
		f.wg.Done()
	}, true
}

func (f *liveFeeds) track(c *websocket.Conn, on bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on && f.closing {
		return false
	}
	if on {
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
	return true
}

// Run waits for ctx, then closes every live feed (1001) and waits for
// their handlers: hijacked connections are not drained by the HTTP server.
func (a *ControlAPI) Run(ctx context.Context) error {
	<-ctx.Done()
	f := a.feeds
	f.mu.Lock()
	f.closing = true
	for c := range f.conns {
		_ = c.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return nil
}

// ticketKey derives the key tickets are signed with from the control
// token: a ticket says nothing of the token, and rotating it voids them.
func (a *ControlAPI) ticketKey() []byte {
	m := hmac.New(sha256.New, a.token)
	m.Write([]byte("livedrop live feed ticket key"))
	return m.Sum(nil)
}

func (a *ControlAPI) ticketMAC(drop string, exp int64) string {
	m := hmac.New(sha256.New, a.ticketKey())
	m.Write([]byte("live\x00" + drop + "\x00" + strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// LiveTicket is the answer to POST /v1/drops/{id}/orders/live/ticket.
type LiveTicket struct {
	Ticket    string `json:"ticket"`
	ExpiresAt int64  `json:"expires_at_ms"`
}

func (a *ControlAPI) liveTicket(w http.ResponseWriter, r *http.Request) {
	drop := r.PathValue("id")
	if !checkout.ValidID(drop) {
		writeJSON(w, http.StatusBadRequest, jsonhttp.ErrorBody{Error: "drop id must be 1-64 of [A-Za-z0-9_-]"})
		return
	}
	exp := time.Now().Add(LiveTicketTTL).UnixMilli()
	writeJSON(w, http.StatusOK, LiveTicket{Ticket: strconv.FormatInt(exp, 10) + "." + a.ticketMAC(drop, exp), ExpiresAt: exp})
}

// validTicket checks a ticket for drop: signed, for this drop, unexpired.
func (a *ControlAPI) validTicket(drop, t string) bool {
	e, mac, ok := strings.Cut(t, ".")
	exp, err := strconv.ParseInt(e, 10, 64)
	if !ok || err != nil || time.Now().UnixMilli() > exp {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(mac), []byte(a.ticketMAC(drop, exp))) == 1
}

// liveAuth lets through a valid ticket or bearer token; wrong ones cost
// the client's budget in the guard, as on every control route.
func (a *ControlAPI) liveAuth(w http.ResponseWriter, r *http.Request, drop string) bool {
	ticket := r.URL.Query().Get("ticket")
	tok, bearer := jsonhttp.BearerToken(r)
	presented := ticket != "" || bearer
	ok, v := a.guard.Try(guard.Attempt{Surface: "control", IP: guard.HostKey(r.RemoteAddr), Account: "control",
		Presented: presented, Reason: "wrong_token"}, func() bool {
		if ticket != "" {
			return a.validTicket(drop, ticket)
		}
		return bearer && subtle.ConstantTimeCompare([]byte(tok), a.token) == 1
	})
	switch {
	case ok:
		return true
	case v.Locked:
		w.Header().Set("Retry-After", strconv.Itoa(int(v.RetryAfter.Seconds())+1))
		writeJSON(w, http.StatusTooManyRequests, jsonhttp.ErrorBody{Error: "too many wrong tokens: try again later"})
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop control"`)
		writeJSON(w, http.StatusUnauthorized, jsonhttp.ErrorBody{Error: "missing, wrong or expired ticket or bearer token"})
	}
	return false
}

// live serves the feed. ?after= is the Total of the page the client
// shows: the feed starts with the orders after it (absent: from now).
func (a *ControlAPI) live(w http.ResponseWriter, r *http.Request) {
	drop := r.PathValue("id")
	if !checkout.ValidID(drop) {
		writeJSON(w, http.StatusBadRequest, jsonhttp.ErrorBody{Error: "drop id must be 1-64 of [A-Za-z0-9_-]"})
		return
	}
	if !a.liveAuth(w, r, drop) {
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeJSON(w, http.StatusBadRequest, jsonhttp.ErrorBody{Error: "expected a WebSocket upgrade"})
		return
	}
	if !sameOrigin(r) {
		writeJSON(w, http.StatusForbidden, jsonhttp.ErrorBody{Error: "origin not allowed"})
		return
	}
	after := -1
	if s := r.URL.Query().Get("after"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, jsonhttp.ErrorBody{Error: "after must be a whole number >= 0"})
			return
		}
		after = n
	}
	watch, err := a.ctl.WatchOrders(r.Context(), drop, after)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	release, ok := a.feeds.admit()
	if !ok {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, jsonhttp.ErrorBody{Error: "too many live feeds open: try again later"})
		return
	}
	defer release()
	conn, err := a.feeds.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	if !a.feeds.track(conn, true) {
		_ = conn.Close()
		return
	}
	defer a.feeds.track(conn, false)
	ctx, cancel := context.WithCancel(context.Background())
	var writer sync.WaitGroup
	writer.Go(func() { a.feed(ctx, conn, watch, drop) })
	readUntilClosed(conn)
	cancel()
	_ = conn.Close()
	writer.Wait()
}

// readUntilClosed discards what the client sends and keeps the read
// deadline moving with pongs; it returns when the socket ends.
func readUntilClosed(conn *websocket.Conn) {
	conn.SetReadLimit(1024)
	wait := 2*livePing + liveWriteTimeout
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wait)) })
	for {
		_, rd, err := conn.NextReader()
		if err == nil {
			_, err = io.Copy(io.Discard, rd)
		}
		if err != nil {
			return
		}
	}
}

// feed polls the watch and writes what changed, and pings, until ctx ends
// or a write fails. A store that does not answer is retried next tick.
func (a *ControlAPI) feed(ctx context.Context, conn *websocket.Conn, watch *checkout.OrderWatch, drop string) {
	tick := time.NewTicker(LivePoll)
	defer tick.Stop()
	ping := time.NewTicker(livePing)
	defer ping.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(liveWriteTimeout)); err != nil {
				_ = conn.Close()
				return
			}
			continue
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, LivePoll+2*time.Second)
		orders, total, skipped, err := watch.Poll(pctx)
		cancel()
		if err != nil {
			a.logger.Debug("live feed: poll", "drop", drop, "err", err)
			continue
		}
		if len(orders) == 0 && skipped == 0 && !first {
			continue
		}
		first = false // the first message says the count, even with no orders
		msg, err := json.Marshal(LiveMessage{Type: "orders", Drop: drop, Orders: orders, Total: total, Skipped: skipped})
		if err != nil {
			continue
		}
		_ = conn.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
		if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			_ = conn.Close()
			return
		}
	}
}
