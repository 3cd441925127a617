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

// origins is the edge's list of upstreams (the active origin first, then
// standbys that ingest the same cameras) and which one pulls use now. It
// is shared by all pulls: the first pull to find the current origin dead
// moves everyone to the next one, and the others, finding it moved since
// they dialled, do not move it again.
type origins struct {
	urls   []string
	client *http.Client
	// probeTimeout bounds one liveness probe (GET /healthz).
	probeTimeout time.Duration

	mu  sync.Mutex
	cur int
}

func newOrigins(urls []string, client *http.Client) *origins {
	return &origins{urls: urls, client: client, probeTimeout: 500 * time.Millisecond}
}

// current is the origin pulls should dial now, and its index.
func (o *origins) current() (int, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cur, o.urls[o.cur]
}

// failed says origin i did not answer: if it is still the current one, the
// next becomes current. It reports whether this call moved it.
func (o *origins) failed(i int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur != i || len(o.urls) == 1 {
		return false
	}
	o.cur = (i + 1) % len(o.urls)
	return true
}

func (o *origins) len() int { return len(o.urls) }

// alive probes base's GET /healthz within probeTimeout.
func (o *origins) alive(ctx context.Context, base string) error {
	return probeHealth(ctx, o.client, strings.TrimRight(base, "/")+"/healthz", o.probeTimeout)
}

func probeHealth(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}
