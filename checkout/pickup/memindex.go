package pickup

import (
	"context"
	"time"
)

// memIndex is MemStore's index (guarded by its mutex).
type memIndex struct {
	entries map[string]IndexEntry
	days    map[string]map[string]bool
	open    map[string]bool
	cursors map[string]int
}

func (x *memIndex) init() {
	if x.entries == nil {
		x.entries, x.days, x.open, x.cursors = map[string]IndexEntry{}, map[string]map[string]bool{}, map[string]bool{}, map[string]int{}
	}
}

func (x *memIndex) addDay(day, code string) {
	m := x.days[day]
	if m == nil {
		m = map[string]bool{}
		x.days[day] = m
	}
	m[code] = true
}

// indexCollected lists c's code on every day from its order's creation to
// its collection and takes it out of the open ones.
func (s *MemStore) indexCollected(c Collection) {
	s.idx.init()
	created := c.At
	if e, ok := s.idx.entries[c.Code]; ok {
		created = e.Created
	}
	for _, d := range openDays(created, c.At) {
		s.idx.addDay(d, c.Code)
	}
	delete(s.idx.open, c.Code)
}

// Index implements Store.
func (s *MemStore) Index(_ context.Context, entries []IndexEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idx.init()
	for _, e := range entries {
		if _, ok := s.idx.entries[e.Code]; ok {
			continue
		}
		s.idx.entries[e.Code] = e
		s.idx.addDay(dayOf(e.Created), e.Code)
		if c, done := s.collected[e.Code]; done {
			s.indexCollected(c) // collected before it was indexed
		} else {
			s.idx.open[e.Code] = true
		}
	}
	return nil
}

// Indexed implements Store.
func (s *MemStore) Indexed(_ context.Context, codes []string) (map[string]IndexEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]IndexEntry, len(codes))
	for _, c := range codes {
		if e, ok := s.idx.entries[c]; ok {
			out[c] = e
		}
	}
	return out, nil
}

// DayCodes implements Store.
func (s *MemStore) DayCodes(_ context.Context, day time.Time) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, set := range []map[string]bool{s.idx.days[dayOf(day)], s.idx.open} {
		for c := range set {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// Retire implements Store.
func (s *MemStore) Retire(_ context.Context, codes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range codes {
		delete(s.idx.open, c)
	}
	return nil
}

// Cursors implements Store.
func (s *MemStore) Cursors(context.Context) (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.idx.cursors))
	for k, v := range s.idx.cursors {
		out[k] = v
	}
	return out, nil
}

// SetCursors implements Store.
func (s *MemStore) SetCursors(_ context.Context, cursors map[string]int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idx.init()
	for k, v := range cursors {
		if v > s.idx.cursors[k] {
			s.idx.cursors[k] = v
		}
	}
	return nil
}
