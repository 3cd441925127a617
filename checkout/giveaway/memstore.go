package giveaway

import (
	"context"
	"slices"
	"sort"
	"sync"
)

// MemStore keeps giveaways in this process (the demo's origin and edge
// share one).
type MemStore struct {
	mu     sync.Mutex
	g      map[string]*memGiveaway
	latest map[string]string // stream -> giveaway id

	subs    map[int]func(Change) // changes.go
	nextSub int
}

type memGiveaway struct {
	rec     Record
	entries map[string]bool
	closed  bool
	res     *Result
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{g: map[string]*memGiveaway{}, latest: map[string]string{}}
}

// Create implements Store.
func (m *MemStore) Create(_ context.Context, r Record) error {
	m.mu.Lock()
	if _, ok := m.g[r.Info.ID]; ok {
		m.mu.Unlock()
		return ErrExists
	}
	m.g[r.Info.ID] = &memGiveaway{rec: r, entries: map[string]bool{}}
	m.latest[r.Info.Stream] = r.Info.ID
	m.mu.Unlock()
	m.notify(Change{ID: r.Info.ID})
	return nil
}

// Latest implements Store.
func (m *MemStore) Latest(_ context.Context, stream string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.latest[stream], nil
}

// Get implements Store.
func (m *MemStore) Get(_ context.Context, id string) (Record, Result, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.g[id]
	if !ok {
		return Record{}, Result{}, false, ErrNotFound
	}
	r := g.rec
	r.Info.Entrants = len(g.entries)
	if g.res == nil {
		return r, Result{}, false, nil
	}
	return r, *g.res, true, nil
}

// Enter implements Store.
func (m *MemStore) Enter(_ context.Context, id, buyer string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.g[id]
	switch {
	case !ok:
		return false, ErrNotFound
	case g.closed:
		return false, ErrClosed
	case g.entries[buyer]:
		return false, nil
	}
	g.entries[buyer] = true
	return true, nil
}

// Close implements Store.
func (m *MemStore) Close(_ context.Context, id string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.g[id]
	if !ok {
		return nil, ErrNotFound
	}
	g.closed = true
	out := make([]string, 0, len(g.entries))
	for b := range g.entries {
		out = append(out, b)
	}
	sort.Strings(out)
	return slices.Clip(out), nil
}

// SetResult implements Store.
func (m *MemStore) SetResult(_ context.Context, id string, res Result) (Result, error) {
	m.mu.Lock()
	g, ok := m.g[id]
	if !ok {
		m.mu.Unlock()
		return Result{}, ErrNotFound
	}
	if g.res == nil {
		g.res = &res
	}
	out := *g.res
	m.mu.Unlock()
	m.notify(Change{ID: id})
	return out, nil
}

// List implements Store.
func (m *MemStore) List(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.g))
	for id := range m.g {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

// Entrants implements Store.
func (m *MemStore) Entrants(_ context.Context, id string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.g[id]
	if !ok {
		return nil, ErrNotFound
	}
	out := make([]string, 0, len(g.entries))
	for b := range g.entries {
		out = append(out, b)
	}
	sort.Strings(out)
	return out, nil
}
