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
	conflicts map[string]map[string]Collection // code -> desk/id -> attempt
	mailed    map[string]bool
	idx       memIndex // memindex.go
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{collected: map[string]Collection{}, conflicts: map[string]map[string]Collection{}}
}

// Collect implements Store.
func (s *MemStore) Collect(_ context.Context, c Collection) (CollectResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first, ok := s.collected[c.Code]
	switch {
	case !ok:
		s.collected[c.Code] = c
		s.indexCollected(c)
		return CollectResult{Outcome: Collected, First: c, New: true}, nil
	case resent(first, c):
		return CollectResult{Outcome: Collected, First: first}, nil
	case first.Desk == c.Desk:
		return CollectResult{Outcome: AlreadyCollectedHere, First: first}, nil
	}
	m := s.conflicts[c.Code]
	if m == nil {
		m = map[string]Collection{}
		s.conflicts[c.Code] = m
	}
	f := conflictField(c)
	_, seen := m[f]
	if !seen {
		m[f] = c
	}
	return CollectResult{Outcome: Conflict, First: first, New: !seen}, nil
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
	slices.SortFunc(out, func(a, b Collection) int { return strings.Compare(conflictField(a), conflictField(b)) })
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
