package overlayhttp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/media"

	"github.com/gorilla/websocket"

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

	mu      sync.Mutex
	conns   map[*websocket.Conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

func newEvents(feed Feed, cfg overlay.WebSocketConfig, logger *slog.Logger) *events {
	e := &events{feed: feed, cfg: cfg, allowed: cfg.NormalizedOrigins(), logger: logger, conns: map[*websocket.Conn]struct{}{}}
	e.up = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      e.checkOrigin,
	}
	return e
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
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, jsonhttp.ErrorBody{Error: "shutting down"})
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()

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
