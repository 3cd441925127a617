package proof

import (
	"sync"
	"time"
)

// replayCache remembers spent challenges until they expire, in time
// buckets by expiry: a bucket is dropped whole once every challenge in it
// has expired (an expired challenge is refused anyway), never before. Its
// size is bounded: when full, new solutions are refused (ErrPoWBusy)
// rather than old ones forgotten.
type replayCache struct {
	width time.Duration
	max   int

	mu      sync.Mutex
	buckets map[int64]map[[16]byte]uint64 // expiry bucket -> seed -> order
	n       int
	oldest  int64 // lowest bucket that may be live
}

func newReplayCache(ttl time.Duration, max int) *replayCache {
	return &replayCache{width: max64(ttl/8, time.Second), max: max, buckets: map[int64]map[[16]byte]uint64{}}
}

func max64(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// spend records seed as spent on order; it fails when seed was spent on
// another order, or when the cache is full.
func (c *replayCache) spend(seed [16]byte, order uint64, exp, now time.Time) error {
	b := exp.UnixNano() / int64(c.width)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	m := c.buckets[b]
	if m != nil {
		if o, ok := m[seed]; ok {
			if o == order {
				return nil
			}
			return ErrPoWReplayed
		}
	}
	if c.n >= c.max {
		return ErrPoWBusy
	}
	if m == nil {
		m = map[[16]byte]uint64{}
		c.buckets[b] = m
	}
	m[seed] = order
	c.n++
	return nil
}

// expire drops the buckets whose every challenge has expired by now.
func (c *replayCache) expire(now time.Time) {
	// Bucket b holds expiries in [b*width, (b+1)*width): dead once now is past
	// its end.
	cur := now.UnixNano()/int64(c.width) - 1
	if cur < c.oldest {
		return
	}
	for b, m := range c.buckets {
		if b <= cur {
			c.n -= len(m)
			delete(c.buckets, b)
		}
	}
	c.oldest = cur + 1
}

// size is how many spent challenges are remembered.
func (c *replayCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
