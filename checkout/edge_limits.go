package checkout

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate limits: orders per second per buyer, per device and per IP at this
// edge. Memory is bounded by eviction that loses nothing: a limiter is
// dropped only after it has been idle for its refill time (burst/rate), when
// its bucket is full again and so equal to a new one. Each kind keeps two
// generations; a lookup moves its limiter to the current one, and every
// refill time the previous generation (untouched for at least that long) is
// dropped. So a kind holds the subjects seen in the last two refill times,
// never more than maxRateEntries; nothing is ever cleared wholesale.

// Limit kinds: who a limit counts. They name the metrics' kind label and
// prefix a subject's limit key in the store.
const (
	KindBuyer  = "buyer"
	KindDevice = "device"
	KindIP     = "ip"
)

var limitKinds = [...]string{KindBuyer, KindDevice, KindIP}

// maxRateEntries bounds one kind's limiters even under a flood of new
// subjects within one refill time; past it the older generation goes early
// (those subjects' buckets restart full, counted in evicted).
const maxRateEntries = 1 << 20

type rateLimits struct {
	now   func() time.Time
	kinds [len(limitKinds)]*rateKind
}

// rateKind is one kind's limiters.
type rateKind struct {
	perSec float64 // 0: no limit
	burst  int
	refill time.Duration

	mu        sync.Mutex
	cur, prev map[string]*rate.Limiter
	rotatedAt time.Time
	evicted   int // dropped before they were idle for a refill time
}

// RateLimit is one kind's rate: orders per second and burst (PerSec 0: none).
type RateLimit struct {
	PerSec float64
	Burst  int
}

func newRateLimits(now func() time.Time, buyer, device, ip RateLimit) *rateLimits {
	l := &rateLimits{now: now}
	for i, r := range [...]RateLimit{buyer, device, ip} {
		k := &rateKind{perSec: r.PerSec, burst: max(r.Burst, 1), cur: map[string]*rate.Limiter{}, prev: map[string]*rate.Limiter{}, rotatedAt: now()}
		if r.PerSec > 0 {
			k.refill = time.Duration(float64(k.burst) / r.PerSec * float64(time.Second))
		}
		l.kinds[i] = k
	}
	return l
}

// allow takes one order from each subject's budget; it returns the kind that
// refused ("" when all allow). An empty subject is not limited. A refusal
// takes nothing from the budgets of the kinds checked after it.
func (l *rateLimits) allow(buyer, device, ip string) string {
	now := l.now()
	for i, subj := range [...]string{buyer, device, ip} {
		if subj != "" && !l.kinds[i].allow(subj, now) {
			return limitKinds[i]
		}
	}
	return ""
}

func (k *rateKind) allow(subj string, now time.Time) bool {
	if k.perSec <= 0 {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.age(now)
	lim, ok := k.cur[subj]
	if !ok {
		if lim, ok = k.prev[subj]; ok {
			delete(k.prev, subj)
		} else {
			if len(k.cur)+len(k.prev) >= maxRateEntries {
				k.evicted += len(k.prev)
				k.rotate(now)
			}
			lim = rate.NewLimiter(rate.Limit(k.perSec), k.burst)
		}
		k.cur[subj] = lim
	}
	return lim.AllowN(now, 1)
}

// age drops what has been idle for a refill time: the previous generation
// once a refill time has passed since the last rotation, both when two have
// (every lookup since the last rotation came before the first refill time
// ended, or it would have rotated then).
func (k *rateKind) age(now time.Time) {
	switch d := now.Sub(k.rotatedAt); {
	case d >= 2*k.refill:
		k.rotate(now)
		k.rotate(now)
	case d >= k.refill:
		k.rotate(now)
	}
}

// sweep ages every kind, so idle limiters go without new lookups.
func (l *rateLimits) sweep() {
	now := l.now()
	for _, k := range l.kinds {
		if k.perSec > 0 {
			k.mu.Lock()
			k.age(now)
			k.mu.Unlock()
		}
	}
}

// rotate drops the previous generation and starts a new current one.
func (k *rateKind) rotate(now time.Time) {
	k.prev, k.cur = k.cur, make(map[string]*rate.Limiter, len(k.cur)/2+1)
	k.rotatedAt = now
}

// entries is how many limiters each kind holds now.
func (l *rateLimits) entries() [len(limitKinds)]int {
	var n [len(limitKinds)]int
	for i, k := range l.kinds {
		k.mu.Lock()
		n[i] = len(k.cur) + len(k.prev)
		k.mu.Unlock()
	}
	return n
}
