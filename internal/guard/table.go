package guard

import (
	"container/list"
	"time"
)

// entry is the budget of one address or account.
type entry struct {
	key          string
	fails        int       // in the window that started at windowStart
	windowStart  time.Time //
	strikes      int       // lockouts in a row
	lockedUntil  time.Time
	trustedUntil time.Time // addresses: a success lately
}

// evictScan is how many of the least recently seen entries are looked at
// for one that is not locked out before the least recent goes anyway.
const evictScan = 64

// table holds at most max entries, least recently seen at the back.
type table struct {
	max   int
	byKey map[string]*list.Element
	order *list.List // of *entry, most recently seen first
}

func newTable(max int) *table {
	return &table{max: max, byKey: map[string]*list.Element{}, order: list.New()}
}

func (t *table) len() int { return len(t.byKey) }

// peek returns key's entry, nil when there is none, without touching it.
func (t *table) peek(key string) *entry {
	if el, ok := t.byKey[key]; ok {
		return el.Value.(*entry)
	}
	return nil
}

// get returns key's entry, made when missing, as the most recently seen.
func (t *table) get(now time.Time, key string) *entry {
	if el, ok := t.byKey[key]; ok {
		t.order.MoveToFront(el)
		return el.Value.(*entry)
	}
	if len(t.byKey) >= t.max {
		t.evict(now)
	}
	e := &entry{key: key, windowStart: now}
	t.byKey[key] = t.order.PushFront(e)
	return e
}

// evict forgets one entry: the least recently seen that is not locked
// out, among the last few; else the least recently seen.
func (t *table) evict(now time.Time) {
	victim := t.order.Back()
	el := victim
	for i := 0; el != nil && i < evictScan; i, el = i+1, el.Prev() {
		if !now.Before(el.Value.(*entry).lockedUntil) {
			victim = el
			break
		}
	}
	if victim == nil {
		return
	}
	delete(t.byKey, victim.Value.(*entry).key)
	t.order.Remove(victim)
}

// fail counts a failure of key against max; it reports a lockout that
// starts now and its length.
func (t *table) fail(now time.Time, key string, max int, cfg Config) (time.Duration, bool) {
	e := t.get(now, key)
	if now.Before(e.lockedUntil) {
		return 0, false // refused attempts do not lengthen a lockout
	}
	if !e.lockedUntil.IsZero() && now.Sub(e.lockedUntil) >= cfg.MaxLockout {
		e.strikes = 0 // quiet for a whole longest lockout: start over
	}
	if now.Sub(e.windowStart) >= cfg.Window {
		e.fails, e.windowStart = 0, now
	}
	e.fails++
	if e.fails < max {
		return 0, false
	}
	e.fails = 0
	e.strikes++
	d := cfg.Lockout
	for i := 1; i < e.strikes && d < cfg.MaxLockout; i++ {
		d *= 2
	}
	d = min(d, cfg.MaxLockout)
	e.lockedUntil = now.Add(d)
	e.windowStart = e.lockedUntil
	return d, true
}
