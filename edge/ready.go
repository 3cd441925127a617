package edge

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// originLink is the edge's readiness check of its upstream: one of the
// origins (or edges) it may pull from answers GET /healthz. One probe
// round per TTL at most, each probe within timeout, so /readyz stays cheap.
type originLink struct {
	urls    []string // upstream base URLs + /healthz
	client  *http.Client
	timeout time.Duration
	ttl     time.Duration

	mu  sync.Mutex // held during a probe: callers meanwhile share its answer
	at  time.Time
	err error
}

func newOriginLink(bases []string, client *http.Client) *originLink {
	l := &originLink{client: client, timeout: time.Second, ttl: time.Second}
	for _, b := range bases {
		l.urls = append(l.urls, strings.TrimRight(b, "/")+"/healthz")
	}
	return l
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

// probe asks each origin in turn; the first that answers makes the link up.
func (l *originLink) probe(ctx context.Context) error {
	var err error
	for _, u := range l.urls {
		if err = probeHealth(ctx, l.client, u, l.timeout); err == nil {
			return nil
		}
	}
	return err
}
