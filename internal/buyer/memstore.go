package buyer

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemStore is the Store of one process (the demo's embedded store): the
// same rules as RedisStore, in memory. Records do not outlive the process.
type MemStore struct {
	now func() time.Time

	mu      sync.Mutex
	codes   map[string]*memCode  // email key -> pending code
	locks   map[string]time.Time // email key -> locked until
	sends   map[string]memWindow // send key -> window
	records map[string]*Record   // email key -> record
	byID    map[string]string    // buyer id -> email key
	members map[string]bool      // email key -> member
}

type memCode struct {
	hash    string
	tries   int
	expires time.Time
}

type memWindow struct {
	n   int
	end time.Time
}

var _ Store = (*MemStore)(nil)

// memSweepAt is the size past which expired entries are swept on a write.
const memSweepAt = 10000

// NewMemStore returns an empty store; now is its clock (time.Now when nil).
func NewMemStore(now func() time.Time) *MemStore {
	if now == nil {
		now = time.Now
	}
	return &MemStore{now: now, codes: map[string]*memCode{}, locks: map[string]time.Time{},
		sends: map[string]memWindow{}, records: map[string]*Record{}, byID: map[string]string{}, members: map[string]bool{}}
}

func (s *MemStore) sweep(now time.Time) {
	if len(s.codes) > memSweepAt {
		for k, c := range s.codes {
			if !now.Before(c.expires) {
				delete(s.codes, k)
			}
		}
	}
	if len(s.locks) > memSweepAt {
		for k, t := range s.locks {
			if !now.Before(t) {
				delete(s.locks, k)
			}
		}
	}
	if len(s.sends) > memSweepAt {
		for k, w := range s.sends {
			if !now.Before(w.end) {
				delete(s.sends, k)
			}
		}
	}
}

func (s *MemStore) lockLeft(now time.Time, ek string) time.Duration {
	if t, ok := s.locks[ek]; ok && now.Before(t) {
		return t.Sub(now)
	}
	return 0
}

// PutCode implements Store.
func (s *MemStore) PutCode(_ context.Context, email, hash string, ttl time.Duration) (time.Duration, error) {
	now := s.now()
	ek := emailKey(email)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	if d := s.lockLeft(now, ek); d > 0 {
		return d, nil
	}
	tries := 0
	if c, ok := s.codes[ek]; ok && now.Before(c.expires) {
		tries = c.tries
	}
	s.codes[ek] = &memCode{hash: hash, tries: tries, expires: now.Add(ttl)}
	return 0, nil
}

// CheckCode implements Store.
func (s *MemStore) CheckCode(_ context.Context, email string, hashes []string, maxTries int, lockout time.Duration) (CodeCheck, error) {
	now := s.now()
	ek := emailKey(email)
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.lockLeft(now, ek); d > 0 {
		return CodeCheck{Result: CodeLocked, RetryAfter: d}, nil
	}
	c, ok := s.codes[ek]
	if !ok || !now.Before(c.expires) {
		delete(s.codes, ek)
		return CodeCheck{Result: CodeNone}, nil
	}
	for _, h := range hashes {
		if h == c.hash {
			delete(s.codes, ek)
			return CodeCheck{Result: CodeOK}, nil
		}
	}
	c.tries++
	if c.tries >= maxTries {
		delete(s.codes, ek)
		s.locks[ek] = now.Add(lockout)
		return CodeCheck{Result: CodeLockedUp, RetryAfter: lockout}, nil
	}
	return CodeCheck{Result: CodeWrong, Left: maxTries - c.tries}, nil
}

// CountSend implements Store.
func (s *MemStore) CountSend(_ context.Context, key string, window time.Duration) (int, time.Duration, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	w := s.sends[key]
	if !now.Before(w.end) {
		w = memWindow{end: now.Add(window)}
	}
	w.n++
	s.sends[key] = w
	return w.n, w.end.Sub(now), nil
}

// SignedIn implements Store.
func (s *MemStore) SignedIn(ctx context.Context, email, newID string, marketing bool, at time.Time) (Record, error) {
	return signedIn(ctx, s, email, newID, marketing, at)
}

// SignedInFrom implements Store.
func (s *MemStore) SignedInFrom(_ context.Context, email, newID string, marketing bool, from Origin, at time.Time) (Record, error) {
	ek := emailKey(email)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[ek]
	if !ok {
		r = &Record{ID: newID, Email: email, EmailAt: at}
		s.records[ek] = r
		s.byID[r.ID] = ek
	}
	if marketing && !r.Marketing {
		r.Marketing, r.WithdrawnAt = true, time.Time{}
		if r.MarketingAt.IsZero() {
			r.MarketingAt, r.Origin = at, originOf(from)
		}
	}
	r.LastSignIn = at
	r.Member = s.members[ek]
	return *r, nil
}

// SetMember implements Store.
func (s *MemStore) SetMember(_ context.Context, email string, member bool) error {
	ek := emailKey(email)
	s.mu.Lock()
	defer s.mu.Unlock()
	if member {
		s.members[ek] = true
	} else {
		delete(s.members, ek)
	}
	if r, ok := s.records[ek]; ok {
		r.Member = member
	}
	return nil
}

// WithdrawConsent implements Store.
func (s *MemStore) WithdrawConsent(_ context.Context, buyerID string, at time.Time) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[s.byID[buyerID]]
	if !ok {
		return Record{}, false, fmt.Errorf("buyer store: withdraw consent: %w: no email buyer %q", ErrNotFound, buyerID)
	}
	if !r.Marketing {
		return *r, false, nil
	}
	r.Marketing, r.WithdrawnAt = false, at
	return *r, true, nil
}

// Counts implements Store.
func (s *MemStore) Counts(_ context.Context, from, to time.Time) (Counts, error) {
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(from) && t.Before(to) }
	s.mu.Lock()
	defer s.mu.Unlock()
	var c Counts
	for _, r := range s.records {
		if in(r.EmailAt) {
			c.NewEmails++
		}
		if r.Marketing && in(r.MarketingAt) {
			c.MarketingConsents++
			c.tally(r.Origin)
		}
		if !r.Marketing && in(r.WithdrawnAt) {
			c.Withdrawn++
		}
	}
	return c, nil
}
