package checkout

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The seller's drop catalogue on the control side: list every drop, edit
// one that has not opened, duplicate one under a new id (the console's
// Drops panel).

// dropEdits counts the catalogue's changes and tells the schedule which
// drops to read again.
type dropEdits struct {
	total *prometheus.CounterVec

	mu      sync.Mutex
	changed map[string]bool // drops edited since the schedule last looked
}

func newDropEdits(reg prometheus.Registerer) (*dropEdits, error) {
	e := &dropEdits{changed: map[string]bool{}, total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livedrop_checkout_drop_edits_total",
		Help: "Drops created, edited and duplicated through the control API, by op (create, update, duplicate).",
	}, []string{"op"})}
	for _, op := range []string{"create", "update", "duplicate"} {
		e.total.WithLabelValues(op)
	}
	return e, reg.Register(e.total)
}

func (e *dropEdits) mark(id string) {
	e.mu.Lock()
	e.changed[id] = true
	e.mu.Unlock()
}

// take returns and forgets the drops edited since the last call.
func (e *dropEdits) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, len(e.changed))
	for id := range e.changed {
		ids = append(ids, id)
	}
	clear(e.changed)
	return ids
}

// ListDrops reads every drop's definition and state, in run-of-show order:
// by opens_at (drops without one last), then id.
func (c *Control) ListDrops(ctx context.Context) ([]Drop, error) {
	ids, err := c.store.ListDrops(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Drop, 0, len(ids))
	for _, id := range ids {
		d, err := c.store.Drop(ctx, id)
		if ClassOf(err) == ClassNotFound {
			continue // indexed, not yet (or no longer) stored
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Drop) int {
		switch {
		case a.OpensAt.IsZero() != b.OpensAt.IsZero():
			if a.OpensAt.IsZero() {
				return 1
			}
			return -1
		case !a.OpensAt.Equal(b.OpensAt):
			return a.OpensAt.Compare(b.OpensAt)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UpdateDrop replaces the definition of drop d.ID, which must not have
// opened yet (ErrConflict otherwise); its state stays created.
func (c *Control) UpdateDrop(ctx context.Context, d Drop) (Drop, error) {
	if d.State != "" && d.State != StateCreated {
		return Drop{}, fmt.Errorf("%w: state is set by open and close, not by an edit", ErrInvalid)
	}
	d.State = ""
	if err := d.Validate(); err != nil {
		return Drop{}, err
	}
	if err := c.store.UpdateDrop(ctx, d); err != nil {
		return Drop{}, err
	}
	c.edits.mark(d.ID)
	c.edits.total.WithLabelValues("update").Inc()
	d.State = StateCreated
	c.logger.Info("drop edited", "drop", d.ID, "stream", d.Stream, "skus", len(d.SKUs))
	return d, nil
}

// DuplicateDrop creates drop to as a copy of drop from's definition (any
// state), opening at opensAt (zero: not scheduled; a copy of a past
// opening would open at once). Members early access needs an opening: a
// copy without one leaves it out.
func (c *Control) DuplicateDrop(ctx context.Context, from, to string, opensAt time.Time) (Drop, error) {
	if !ValidID(from) {
		return Drop{}, fmt.Errorf("%w: drop id must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, MaxIDLen)
	}
	if !ValidID(to) {
		return Drop{}, fmt.Errorf("%w: id must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, MaxIDLen)
	}
	src, err := c.store.Drop(ctx, from)
	if err != nil {
		return Drop{}, err
	}
	d := src
	d.ID, d.State, d.OpensAt = to, "", opensAt
	d.SKUs = slices.Clone(src.SKUs)
	if opensAt.IsZero() {
		d.Members, d.Lottery = nil, nil
	}
	d, err = c.createDrop(ctx, d)
	if err != nil {
		return Drop{}, err
	}
	c.edits.total.WithLabelValues("duplicate").Inc()
	return d, nil
}

// forgetEdited drops edited drops from the schedule's memory, so it reads
// their new opening.
func (c *Control) forgetEdited(known map[string]*scheduled) {
	for _, id := range c.edits.take() {
		delete(known, id)
	}
}
