package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// originLink is the edge's readiness check of its upstream: the origin (or
// edge) it pulls from answers GET /healthz. One probe per TTL at most,
// each within Timeout, so /readyz stays cheap.
type originLink struct {
	url     string // upstream base URL + /healthz
	client  *http.Client
	timeout time.Duration
	ttl     time.Duration

	mu  sync.Mutex // held during a probe: callers meanwhile share its answer
	at  time.Time
	err error
}

func newOriginLink(base string, client *http.Client) *originLink {
	return &originLink{url: strings.TrimRight(base, "/") + "/healthz", client: client,
		timeout: time.Second, ttl: time.Second}
}

// Ready implements httpnode.Readier.
func (l *originLink) Ready(ctx context.Context) (bool, string) {
	if err := l.check(ctx); err != nil {
		return false, "origin unreachable"
	}
	return true, ""
}

func (l *originLink) check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.at.IsZero() && time.Since(l.at) < l.ttl {
		return l.err
	}
	l.err = l.probe(ctx)
	l.at = time.Now()
	return l.err
}

func (l *originLink) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", l.url, resp.StatusCode)
	}
	return nil
}
