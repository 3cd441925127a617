package checkout

import (
	"context"
	"sync"
	"time"
)

// Pinger is a Store that can be asked whether it answers (RedisStore). A
// Store without it lives in the process and is always reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Ping asks Redis for PONG.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// StoreProbe tells whether a node's store is reachable, asking it at most
// once per TTL (so a readiness check that runs often stays cheap), each
// ask bounded by Timeout.
type StoreProbe struct {
	store   Store
	timeout time.Duration
	ttl     time.Duration
	now     func() time.Time

	mu  sync.Mutex // held during an ask: callers meanwhile share its answer
	at  time.Time
	err error
}

// NewStoreProbe builds a probe of store; now is the clock (time.Now).
func NewStoreProbe(store Store, timeout, ttl time.Duration, now func() time.Time) *StoreProbe {
	return &StoreProbe{store: store, timeout: timeout, ttl: ttl, now: now}
}

// Check returns nil when the store answered its last PING (asked again
// once the last answer is older than the TTL), or the PING's error.
func (p *StoreProbe) Check(ctx context.Context) error {
	pg, ok := p.store.(Pinger)
	if !ok {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && p.now().Sub(p.at) < p.ttl {
		return p.err
	}
	// Not the caller's cancel: its answer is shared and cached.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	p.err = pg.Ping(pctx)
	p.at = p.now()
	return p.err
}
