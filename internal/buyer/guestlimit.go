package buyer

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// guestLimits bounds the guest sessions one client address may make at
// this edge: a token bucket per address, so a script behind one address
// cannot mint buyer identities without end. It is per edge, like the
// guest sign-in it guards (which makes no round trip). Memory is bounded
// by two generations of buckets: when the current one holds max
// addresses it becomes the previous one (whose buckets are still found
// and moved forward on use) and the previous one is dropped, so an
// address in use keeps its bucket and no limit is reset wholesale.
type guestLimits struct {
	every rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu        sync.Mutex
	cur, prev map[string]*rate.Limiter
}

// maxGuestAddresses is how many addresses one generation holds.
const maxGuestAddresses = 50_000

func newGuestLimits(perSecond float64, burst int, now func() time.Time) *guestLimits {
	return &guestLimits{every: rate.Limit(perSecond), burst: burst, max: maxGuestAddresses, now: now,
		cur: map[string]*rate.Limiter{}, prev: map[string]*rate.Limiter{}}
}

// allow takes one guest sign-in from ip's bucket; when the bucket is
// empty it says how long until the next one is allowed.
func (g *guestLimits) allow(ip string) (bool, time.Duration) {
	if g == nil || g.burst <= 0 {
		return true, 0
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.cur[ip]
	if !ok {
		if l, ok = g.prev[ip]; ok {
			delete(g.prev, ip)
		} else {
			l = rate.NewLimiter(g.every, g.burst)
		}
		if len(g.cur) >= g.max {
			g.prev, g.cur = g.cur, map[string]*rate.Limiter{}
		}
		g.cur[ip] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
