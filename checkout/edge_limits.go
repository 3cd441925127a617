package checkout

import (
	"sync"

	"golang.org/x/time/rate"
)

// buyerLimits rate-limits orders per buyer name at this edge.
type buyerLimits struct {
	perSec float64 // 0: no limit
	burst  int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newBuyerLimits(perSec float64, burst int) buyerLimits {
	return buyerLimits{perSec: perSec, burst: burst, m: map[string]*rate.Limiter{}}
}

// allow takes one order from buyer's budget.
func (l *buyerLimits) allow(buyer string) bool {
	if l.perSec <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[buyer]
	if !ok {
		if len(l.m) > 100_000 {
			clear(l.m)
		}
		lim = rate.NewLimiter(rate.Limit(l.perSec), l.burst)
		l.m[buyer] = lim
	}
	return lim.Allow()
}
