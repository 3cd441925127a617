package overlayhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/media"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/overlay"
)

// Feed is what the events WebSocket reads: *overlay.OriginHub and
// *overlay.EdgeHub.
type Feed interface {
	SubscribeVia(stream, transport string) (msgs <-chan []byte, cancel func())
}

var (
	_ Feed = (*overlay.OriginHub)(nil)
	_ Feed = (*overlay.EdgeHub)(nil)
)

// events serves GET /v1/streams/{stream}/events: one WebSocket per client,
// server to client only. It owns the sockets: close ends them all and waits.
type events struct {
	feed    Feed
	cfg     overlay.WebSocketConfig
	allowed []string
	logger  *slog.Logger
	up      websocket.Upgrader

	refused *prometheus.CounterVec // reason: global_cap, ip_cap

	mu      sync.Mutex
	conns   map[*websocket.Conn]struct{}
	open    int            // sockets admitted, upgraded or upgrading
	perIP   map[string]int // of open, by client address; no entry at 0
	closing bool
	wg      sync.WaitGroup
}

func newEvents(feed Feed, cfg overlay.WebSocketConfig, reg prometheus.Registerer, logger *slog.Logger) (*events, error) {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_overlay_websocket_refused_total",
		Help: "Event WebSocket connections refused before the upgrade, by reason (global_cap, ip_cap)."}, []string{"reason"})
	if err := reg.Register(refused); err != nil {
		return nil, fmt.Errorf("overlay http: %w", err)
	}
	for _, r := range []string{"global_cap", "ip_cap"} {
		refused.WithLabelValues(r)
	}
	e := &events{feed: feed, cfg: cfg, allowed: cfg.NormalizedOrigins(), logger: logger, refused: refused,
		conns: map[*websocket.Conn]struct{}{}, perIP: map[string]int{}}
	e.up = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      e.checkOrigin,
	}
	return e, nil
}

// admit takes a socket's place in the budgets, or says why not: the
// node's cap (503) or the address's (429), both before any upgrade.
func (e *events) admit(ip string) (release func(), code int, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closing:
		return nil, http.StatusServiceUnavailable, "shutting down"
	case e.open >= e.cfg.MaxConns:
		e.refused.WithLabelValues("global_cap").Inc()
		return nil, http.StatusServiceUnavailable, "too many event sockets on this node: try again later"
	case e.perIP[ip] >= e.cfg.MaxConnsPerIP:
		e.refused.WithLabelValues("ip_cap").Inc()
		return nil, http.StatusTooManyRequests, fmt.Sprintf("at most %d event sockets per address", e.cfg.MaxConnsPerIP)
	}
	e.open++
	e.perIP[ip]++
	e.wg.Add(1)
	return func() {
		e.mu.Lock()
		e.open--
		if e.perIP[ip]--; e.perIP[ip] <= 0 {
			delete(e.perIP, ip)
		}
		e.mu.Unlock()
		e.wg.Done()
	}, 0, ""
}

// checkOrigin allows a request without Origin (not a browser), a same-origin
// request, and the configured origins; never any origin.
func (e *events) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return slices.Contains(e.allowed, strings.ToLower(u.Scheme+"://"+u.Host))
}

func (e *events) serve(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if !media.ValidName(stream) {
		writeJSON(w, http.StatusBadRequest, jsonhttp.ErrorBody{Error: "stream must be 1-64 of [A-Za-z0-9_-]"})
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeJSON(w, http.StatusBadRequest, jsonhttp.ErrorBody{Error: "expected a WebSocket upgrade"})
		return
	}
	if !e.checkOrigin(r) {
		writeJSON(w, http.StatusForbidden, jsonhttp.ErrorBody{Error: "origin not allowed"})
		return
	}
	release, code, msg := e.admit(guard.HostKey(r.RemoteAddr))
	if release == nil {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, code, jsonhttp.ErrorBody{Error: msg})
		return
	}
	defer release()

	conn, err := e.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		_ = conn.Close()
		return
	}
	e.conns[conn] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conns, conn)
		e.mu.Unlock()
	}()

	msgs, cancel := e.feed.SubscribeVia(stream, overlay.TransportWebSocket)
	defer cancel()
	done := make(chan struct{})
	var writer sync.WaitGroup
	writer.Go(func() { e.write(conn, msgs, done) })
	e.read(conn)
	close(done)
	_ = conn.Close()
	writer.Wait()
}

// read discards what the client sends (nothing is expected) and keeps the
// read deadline moving with pongs. It returns when the socket fails or
// closes, or a message exceeds the read limit (gorilla answers 1009).
func (e *events) read(conn *websocket.Conn) {
	conn.SetReadLimit(e.cfg.ReadLimit)
	wait := 2*e.cfg.PingInterval + e.cfg.WriteTimeout
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wait)) })
	for {
		// Read each message to its end: the limit counts a fragmented
		// message's frames only while it is being read.
		_, r, err := conn.NextReader()
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				e.logger.Debug("events socket: client message over the read limit", "limit", e.cfg.ReadLimit)
			}
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
	}
}

// write sends the subscription's messages and pings until done, a failed
// write, or the hub closing the subscription.
func (e *events) write(conn *websocket.Conn, msgs <-chan []byte, done <-chan struct{}) {
	ping := time.NewTicker(e.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-done:
			return
		case m, ok := <-msgs:
			if !ok {
				_ = conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(e.cfg.WriteTimeout))
				_ = conn.Close()
				return
			}
			_ = conn.SetWriteDeadline(time.Now().Add(e.cfg.WriteTimeout))
			if err := conn.WriteMessage(websocket.TextMessage, m); err != nil {
				_ = conn.Close()
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(e.cfg.WriteTimeout)); err != nil {
				_ = conn.Close()
				return
			}
		}
	}
}

// run waits for ctx, then closes every socket (1001) and waits for their
// handlers: hijacked connections are not drained by http.Server.Shutdown.
func (e *events) run(ctx context.Context) {
	<-ctx.Done()
	e.mu.Lock()
	e.closing = true
	var closers sync.WaitGroup
	for c := range e.conns {
		closers.Go(func() {
			_ = c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
			_ = c.Close()
		})
	}
	e.mu.Unlock()
	closers.Wait()
	e.wg.Wait()
}
