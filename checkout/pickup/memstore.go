package pickup

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemStore keeps collections in memory: the demo's one process.
type MemStore struct {
	mu        sync.Mutex
	collected map[string]Collection
	conflicts map[string]map[string]Collection // code -> desk -> first attempt
	mailed    map[string]bool
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{collected: map[string]Collection{}, conflicts: map[string]map[string]Collection{}}
}

// Collect implements Store.
func (s *MemStore) Collect(_ context.Context, c Collection) (Outcome, Collection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first, ok := s.collected[c.Code]
	switch {
	case !ok:
		s.collected[c.Code] = c
		return Collected, c, nil
	case first.Desk == c.Desk:
		return AlreadyCollectedHere, first, nil
	}
	m := s.conflicts[c.Code]
	if m == nil {
		m = map[string]Collection{}
		s.conflicts[c.Code] = m
	}
	if _, seen := m[c.Desk]; !seen {
		m[c.Desk] = c
	}
	return Conflict, first, nil
}

// Collections implements Store.
func (s *MemStore) Collections(_ context.Context, codes []string) (map[string]Collection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Collection, len(codes))
	for _, c := range codes {
		if v, ok := s.collected[c]; ok {
			out[c] = v
		}
	}
	return out, nil
}

// Conflicts implements Store.
func (s *MemStore) Conflicts(_ context.Context, code string) ([]Collection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Collection, 0, len(s.conflicts[code]))
	for _, c := range s.conflicts[code] {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Collection) int { return strings.Compare(a.Desk, b.Desk) })
	return out, nil
}

// MarkMailed implements Store.
func (s *MemStore) MarkMailed(_ context.Context, code string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mailed == nil {
		s.mailed = map[string]bool{}
	}
	if s.mailed[code] {
		return false, nil
	}
	s.mailed[code] = true
	return true, nil
}

// ConflictCounts implements Store.
func (s *MemStore) ConflictCounts(_ context.Context, codes []string) (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, c := range codes {
		if n := len(s.conflicts[c]); n > 0 {
			out[c] = n
		}
	}
	return out, nil
}
