package wallet

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// MemStore is the Store in memory, for the demo's one process.
type MemStore struct {
	mu       sync.Mutex
	byKey    map[string]Entry
	ledger   []Entry
	balances map[string]map[string]int64 // account -> currency -> cents
	byBuyer  map[string][]int            // buyer -> indexes into ledger
	holds    map[string]string           // order -> hold record
	open     map[string]time.Time        // order -> when held, while held
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{byKey: map[string]Entry{}, balances: map[string]map[string]int64{}, byBuyer: map[string][]int{}, holds: map[string]string{}, open: map[string]time.Time{}}
}

// Apply implements Store.
func (s *MemStore) Apply(_ context.Context, m Movement) (Entry, bool, error) {
	if err := m.Validate(); err != nil {
		return Entry{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byKey[m.Key]; ok {
		if !e.same(m) {
			return Entry{}, false, ErrKeyReused
		}
		return e, true, nil
	}
	if m.Hold != nil && s.holds[m.Order] != m.Hold.Expect {
		return Entry{}, false, ErrHoldChanged
	}
	e := m.entry(int64(len(s.ledger) + 1))
	if bal := s.balances[e.Debit][e.Currency]; isBuyerAccount(e.Debit) && bal < e.AmountCents {
		return Entry{}, false, &ShortError{BalanceCents: bal}
	}
	s.add(e.Debit, e.Currency, -e.AmountCents)
	s.add(e.Credit, e.Currency, e.AmountCents)
	s.byKey[m.Key] = e
	if m.Hold != nil {
		s.holds[m.Order] = m.Hold.Next
		if r, err := decodeHold(m.Hold.Next); err == nil && r.State == HoldHeld {
			s.open[m.Order] = r.At
		} else {
			delete(s.open, m.Order)
		}
	}
	s.byBuyer[m.Buyer] = append(s.byBuyer[m.Buyer], len(s.ledger))
	s.ledger = append(s.ledger, e)
	return e, false, nil
}

func (s *MemStore) add(acct, cur string, v int64) {
	if s.balances[acct] == nil {
		s.balances[acct] = map[string]int64{}
	}
	s.balances[acct][cur] += v
}

// Entry implements Store.
func (s *MemStore) Entry(_ context.Context, key string) (Entry, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byKey[key]
	return e, ok, nil
}

// Statement implements Store.
func (s *MemStore) Statement(_ context.Context, buyer string, n int) (Statement, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Statement{Buyer: buyer, Balances: maps.Clone(s.balances[BuyerAccount(buyer)]), Entries: []Entry{}}
	if st.Balances == nil {
		st.Balances = map[string]int64{}
	}
	for cur, v := range s.balances[HoldAccount(buyer)] {
		if v != 0 {
			if st.Held == nil {
				st.Held = map[string]int64{}
			}
			st.Held[cur] = v
		}
	}
	idx := s.byBuyer[buyer]
	for i := len(idx) - 1; i >= 0 && len(st.Entries) < n; i-- {
		st.Entries = append(st.Entries, s.ledger[idx[i]])
	}
	return st, nil
}

// Liability implements Store.
func (s *MemStore) Liability(_ context.Context) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for acct, bal := range s.balances {
		if isOwedAccount(acct) {
			for cur, v := range bal {
				out[cur] += v
			}
		}
	}
	return out, nil
}

// Balances implements Store.
func (s *MemStore) Balances(_ context.Context) (map[string]map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]int64, len(s.balances))
	for acct, bal := range s.balances {
		out[acct] = maps.Clone(bal)
	}
	return out, nil
}

// Ledger implements Store.
func (s *MemStore) Ledger(_ context.Context) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.ledger...), nil
}

// HoldOf implements Store.
func (s *MemStore) HoldOf(_ context.Context, order string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holds[order], nil
}

// OpenHolds implements Store.
func (s *MemStore) OpenHolds(_ context.Context, before time.Time, n int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for order, at := range s.open {
		if at.Before(before) {
			out = append(out, order)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return s.open[a].Compare(s.open[b]) })
	return out[:min(len(out), n)], nil
}
