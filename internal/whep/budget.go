package whep

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Budget bounds a server's sessions: in all, per client address, and how
// fast one address may offer; and how long a session may stay half-open
// (answered, ICE not up) before it is closed. The YAML keys live under a
// node's whep: block.
type Budget struct {
	// MaxSessions bounds the node's sessions (503 beyond it).
	MaxSessions int `yaml:"max_sessions"`
	// MaxSessionsPerIP bounds one client address's sessions (429).
	MaxSessionsPerIP int `yaml:"max_sessions_per_ip"`
	// OffersPerSecondPerIP and OfferBurstPerIP bound how fast one address
	// may offer (429 with the wait in Retry-After).
	OffersPerSecondPerIP float64 `yaml:"offers_per_second_per_ip"`
	OfferBurstPerIP      int     `yaml:"offer_burst_per_ip"`
	// ICETimeout closes a session whose ICE and DTLS are not up within it.
	ICETimeout time.Duration `yaml:"ice_timeout"`
}

// DefaultEdgeBudget is an edge's: viewers, a few per household or office.
func DefaultEdgeBudget() Budget {
	return Budget{MaxSessions: 5000, MaxSessionsPerIP: 50, OffersPerSecondPerIP: 5, OfferBurstPerIP: 20, ICETimeout: 10 * time.Second}
}

// DefaultOriginBudget is an origin's: its edges, each pulling every stream
// its viewers watch.
func DefaultOriginBudget() Budget {
	return Budget{MaxSessions: 1000, MaxSessionsPerIP: 256, OffersPerSecondPerIP: 50, OfferBurstPerIP: 100, ICETimeout: 10 * time.Second}
}

// Validate checks the budget; errors name the key under whep.
func (b Budget) Validate() error {
	switch {
	case b.MaxSessions < 1:
		return errors.New("whep.max_sessions: must be >= 1")
	case b.MaxSessionsPerIP < 1 || b.MaxSessionsPerIP > b.MaxSessions:
		return errors.New("whep.max_sessions_per_ip: must be between 1 and whep.max_sessions")
	case !(b.OffersPerSecondPerIP > 0) || math.IsInf(b.OffersPerSecondPerIP, 0):
		return errors.New("whep.offers_per_second_per_ip: must be > 0")
	case b.OfferBurstPerIP < 1:
		return errors.New("whep.offer_burst_per_ip: must be >= 1")
	case b.ICETimeout < time.Second || b.ICETimeout > 5*time.Minute:
		return errors.New("whep.ice_timeout: must be between 1s and 5m")
	}
	return nil
}

// budget keeps a server's counts. Idle addresses are forgotten once their
// offer allowance is whole again, so its memory follows the live
// sessions and the recent offerers, never the history.
type budget struct {
	cfg Budget
	now func() time.Time

	mu    sync.Mutex
	total int
	ips   map[string]*ipCount
	swept time.Time
}

type ipCount struct {
	sessions int
	offers   *rate.Limiter
	last     time.Time
}

// refusal is an offer turned away by the budget.
type refusal struct {
	code       int
	reason     string // a metric label: global_cap, ip_cap, rate
	msg        string
	retryAfter time.Duration
}

func newBudget(cfg Budget, now func() time.Time) *budget {
	return &budget{cfg: cfg, now: now, ips: map[string]*ipCount{}}
}

// admit takes a session's place for the address, or says why not. The
// returned release gives it back (once).
func (b *budget) admit(ip string) (release func(), ref *refusal) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	c := b.ips[ip]
	if c == nil {
		c = &ipCount{offers: rate.NewLimiter(rate.Limit(b.cfg.OffersPerSecondPerIP), b.cfg.OfferBurstPerIP)}
		b.ips[ip] = c
	}
	c.last = now
	switch {
	case b.total >= b.cfg.MaxSessions:
		return nil, &refusal{code: http.StatusServiceUnavailable, reason: "global_cap", retryAfter: 10 * time.Second,
			msg: "this node serves as many sessions as it can: try again shortly, or another edge"}
	case c.sessions >= b.cfg.MaxSessionsPerIP:
		return nil, &refusal{code: http.StatusTooManyRequests, reason: "ip_cap", retryAfter: 5 * time.Second,
			msg: fmt.Sprintf("at most %d sessions per address: end one first", b.cfg.MaxSessionsPerIP)}
	}
	if r := c.offers.ReserveN(now, 1); !r.OK() || r.DelayFrom(now) > 0 {
		wait := r.DelayFrom(now)
		r.CancelAt(now)
		return nil, &refusal{code: http.StatusTooManyRequests, reason: "rate", retryAfter: wait,
			msg: fmt.Sprintf("too many offers from this address: at most %g per second", b.cfg.OffersPerSecondPerIP)}
	}
	b.total++
	c.sessions++
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.total--
			c.sessions--
		})
	}, nil
}

// sweep forgets addresses with no session whose allowance has refilled,
// at most once a second. Called with mu held.
func (b *budget) sweep(now time.Time) {
	if now.Sub(b.swept) < time.Second {
		return
	}
	b.swept = now
	refill := time.Duration(float64(b.cfg.OfferBurstPerIP)/b.cfg.OffersPerSecondPerIP*float64(time.Second)) + time.Second
	for ip, c := range b.ips {
		if c.sessions == 0 && now.Sub(c.last) > refill {
			delete(b.ips, ip)
		}
	}
}

// addresses is how many client addresses the budget remembers (tests).
func (b *budget) addresses() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ips)
}

// retryAfter is a Retry-After value: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
