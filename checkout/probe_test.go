package checkout

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/redistest"
)

// TestStoreProbeFollowsRedisWithinItsTTL: the probe answers from its last
// PING until the TTL has passed, then asks again; a stopped Redis is
// unavailable, a restarted one reachable; the embedded store always is.
func TestStoreProbeFollowsRedisWithinItsTTL(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rs, err := OpenRedisStore(context.Background(), srv.URL(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func() { mu.Lock(); now = now.Add(2 * time.Second); mu.Unlock() }
	p := NewStoreProbe(rs, 500*time.Millisecond, time.Second, clock)
	ctx := context.Background()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("redis up: %v", err)
	}
	srv.Stop()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("within the TTL the last answer stands, got %v", err)
	}
	advance()
	if err := p.Check(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("redis stopped: %v, want ErrUnavailable", err)
	}
	srv.Restart()
	advance()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("redis restarted: %v", err)
	}

	ms, err := OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if err := NewStoreProbe(ms, time.Millisecond, time.Second, clock).Check(ctx); err != nil {
		t.Fatalf("embedded store: %v", err)
	}
}
