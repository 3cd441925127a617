package auction

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemStore is the Store of one process (the demo): lots in memory, bids
// decided under one lock.
type MemStore struct {
	now func() time.Time

	mu      sync.Mutex
	lots    map[string]*memLot
	subs    map[int]func(Snapshot)
	nextSub int
}

type memLot struct {
	snap    Snapshot
	log     []Record
	answers map[string]Answer // by buyer|key
	bidders map[string]bool
	holds   map[string]string
	closed  bool
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty store on clock now (nil: time.Now).
func NewMemStore(now func() time.Time) *MemStore {
	if now == nil {
		now = time.Now
	}
	return &MemStore{now: now, lots: map[string]*memLot{}, subs: map[int]func(Snapshot){}}
}

func (m *MemStore) lot(id string) (*memLot, error) {
	l, ok := m.lots[id]
	if !ok {
		return nil, fmt.Errorf("lot %s: %w", id, ErrNotFound)
	}
	return l, nil
}

// notify tells subscribers; called with mu held, so updates stay in order.
func (m *MemStore) notify(s Snapshot) {
	for _, f := range m.subs {
		f(s)
	}
}

// Create implements Store.
func (m *MemStore) Create(_ context.Context, l Lot) error {
	if err := l.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.lots[l.ID]; ok {
		return fmt.Errorf("lot %s: %w", l.ID, ErrExists)
	}
	l.Increments = slices.Clone(l.Increments)
	m.lots[l.ID] = &memLot{snap: Snapshot{Lot: l, State: State{Phase: PhaseCreated}},
		answers: map[string]Answer{}, bidders: map[string]bool{}, holds: map[string]string{}}
	return nil
}

// Start implements Store.
func (m *MemStore) Start(_ context.Context, id string) (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.lot(id)
	if err != nil {
		return Snapshot{}, err
	}
	switch l.snap.State.Phase {
	case PhaseLive:
		return l.snap, nil
	case PhaseEnded:
		return Snapshot{}, fmt.Errorf("lot %s has ended: %w", id, ErrConflict)
	}
	l.snap.State.Phase = PhaseLive
	l.snap.StartedMS = m.now().UnixMilli()
	l.snap.State.EndsMS = l.snap.StartedMS + l.snap.Lot.DurationMS
	l.snap.State.Seq++
	m.notify(l.snap)
	return l.snap, nil
}

// End implements Store.
func (m *MemStore) End(_ context.Context, id string) (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.lot(id)
	if err != nil {
		return Snapshot{}, err
	}
	if l.snap.State.Phase == PhaseCreated {
		return Snapshot{}, fmt.Errorf("lot %s has not started: %w", id, ErrConflict)
	}
	if now := m.now().UnixMilli(); l.snap.State.Phase == PhaseLive && now < l.snap.State.EndsMS {
		l.snap.State.EndsMS = now
		l.snap.State.Seq++
		m.notify(l.snap)
	}
	return l.snap, nil
}

// Bid implements Store.
func (m *MemStore) Bid(_ context.Context, req BidRequest) (Answer, error) {
	if err := req.Bid.Validate(); err != nil {
		return Answer{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.lot(req.Lot)
	if err != nil {
		return Answer{}, err
	}
	ak := req.Bid.Buyer + "|" + req.Key
	if req.Key != "" {
		if a, ok := l.answers[ak]; ok {
			a.Replay = true
			return a, nil
		}
	}
	now := m.now().UnixMilli()
	before := l.snap.State
	after, res := Resolve(l.snap.Lot, before, req.Bid, now)
	a := Answer{Result: res, State: after, AtMS: now}
	if res.Valid() {
		a.First = !l.bidders[req.Bid.Buyer]
		l.bidders[req.Bid.Buyer] = true
	}
	l.log = append(l.log, Record{Bid: req.Bid, Result: res, AtMS: now, Price: after.PriceCents, Leader: after.Leader,
		EndsMS: after.EndsMS, PrevEnds: before.EndsMS, PrevPrice: before.PriceCents, Seq: after.Seq})
	if req.Key != "" {
		l.answers[ak] = a
	}
	if res.Valid() {
		l.snap.State = after
		m.notify(l.snap)
	}
	return a, nil
}

// Lot implements Store.
func (m *MemStore) Lot(_ context.Context, id string) (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.lot(id)
	if err != nil {
		return Snapshot{}, err
	}
	return l.snap, nil
}

// Log implements Store.
func (m *MemStore) Log(_ context.Context, id string) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.lot(id)
	if err != nil {
		return nil, err
	}
	return slices.Clone(l.log), nil
}

// Finish implements Store.
func (m *MemStore) Finish(_ context.Context, id string) (Snapshot, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.lot(id)
	if err != nil {
		return Snapshot{}, false, err
	}
	switch {
	case l.snap.State.Phase == PhaseEnded:
		return l.snap, true, nil
	case l.snap.State.Phase != PhaseLive || m.now().UnixMilli() < l.snap.State.EndsMS:
		return l.snap, false, nil
	}
	l.snap.State.Phase = PhaseEnded
	l.snap.State.Seq++
	m.notify(l.snap)
	return l.snap, true, nil
}

// SetOrder implements Store.
func (m *MemStore) SetOrder(_ context.Context, id, orderID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.lot(id)
	if err != nil {
		return err
	}
	l.snap.OrderID = orderID
	return nil
}

// Open implements Store.
func (m *MemStore) Open(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, l := range m.lots {
		if !l.closed {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Close implements Store.
func (m *MemStore) Close(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.lot(id)
	if err != nil {
		return false, err
	}
	first := !l.closed
	l.closed = true
	l.snap.Closed = true
	return first, nil
}

// SetHold implements Store.
func (m *MemStore) SetHold(_ context.Context, id, buyer, authID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.lot(id)
	if err != nil {
		return err
	}
	l.holds[buyer] = authID
	return nil
}

// Holds implements Store.
func (m *MemStore) Holds(_ context.Context, id string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.lot(id)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(l.holds))
	for k, v := range l.holds {
		out[k] = v
	}
	return out, nil
}

// Subscribe implements Store: f runs under the store's lock, so it must
// not call the store (hand the snapshot to a channel).
func (m *MemStore) Subscribe(ctx context.Context, f func(Snapshot)) error {
	m.mu.Lock()
	id := m.nextSub
	m.nextSub++
	m.subs[id] = f
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	delete(m.subs, id)
	m.mu.Unlock()
	return nil
}

// Now implements Store.
func (m *MemStore) Now(context.Context) (time.Time, error) { return m.now(), nil }

// Lots implements Store.
func (m *MemStore) Lots(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.lots))
	for id := range m.lots {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}
