package proof

import (
	"math"
	"sync"
	"time"
)

// HardMaxBits caps any configured difficulty: 2^24 hashes is seconds on a
// phone.
const HardMaxBits = 24

// difficulty sets the puzzle's bits from this edge's order rate: BaseBits
// while gated orders come at most KneePerSecond, one bit more for each
// doubling of the rate above that, never more than MaxBits. The rate is the
// count of the last rateWindow seconds, in one-second slots.
//
//	bits = min(MaxBits, BaseBits + max(0, ceil(log2(rate / KneePerSecond))))
type difficulty struct {
	base, max int
	knee      float64

	mu    sync.Mutex
	slots [rateWindow]struct {
		sec int64
		n   int
	}
}

const rateWindow = 10

func (d *difficulty) observe(now time.Time) {
	s := now.Unix()
	d.mu.Lock()
	sl := &d.slots[s%rateWindow]
	if sl.sec != s {
		sl.sec, sl.n = s, 0
	}
	sl.n++
	d.mu.Unlock()
}

// rate is the gated orders per second over the window ending now.
func (d *difficulty) rate(now time.Time) float64 {
	s := now.Unix()
	n := 0
	d.mu.Lock()
	for _, sl := range d.slots {
		if sl.sec > s-rateWindow && sl.sec <= s {
			n += sl.n
		}
	}
	d.mu.Unlock()
	return float64(n) / rateWindow
}

func (d *difficulty) bitsAt(rate float64) int {
	b := d.base
	if rate > d.knee && d.knee > 0 {
		b += int(math.Ceil(math.Log2(rate / d.knee)))
	}
	return min(b, d.max)
}

func (d *difficulty) bits(now time.Time) int { return d.bitsAt(d.rate(now)) }
