package pickup

import (
	"context"
	"time"
)

// Collection is one hand-over at a desk: the code, the desk that scanned
// it and when (the desk's clock, which may be offline for a while).
type Collection struct {
	Code string    `json:"code"`
	Desk string    `json:"desk"`
	At   time.Time `json:"at"`
	// Order is the order id the code names (set by the origin).
	Order string `json:"order,omitempty"`
	// ID names this hand-over at its desk (the desk makes it up): a sync
	// resent with the same desk, code and id is the same collection, told
	// the same result and counted once.
	ID string `json:"id,omitempty"`
}

// CollectResult is what Store.Collect did.
type CollectResult struct {
	Outcome Outcome
	// First is the code's recorded (first) collection.
	First Collection
	// New: this call recorded something (the collection, or a conflict not
	// seen before); a resent collection changes nothing.
	New bool
}

// resent reports whether c is recorded collection first sent again: the
// same desk and the same collection id.
func resent(first, c Collection) bool { return c.ID != "" && first.Desk == c.Desk && first.ID == c.ID }

// conflictField names c among a code's conflicts: by desk and collection id.
func conflictField(c Collection) string {
	if c.ID == "" {
		return c.Desk
	}
	return c.Desk + "/" + c.ID
}

// Outcome is what recording a collection did.
type Outcome string

// Outcomes of Store.Collect (the sync answer's per-item status).
const (
	// Collected: this was the code's first collection; it is recorded.
	Collected Outcome = "collected"
	// AlreadyCollectedHere: the same desk had recorded it (a resent sync).
	AlreadyCollectedHere Outcome = "already_collected_here"
	// Conflict: another desk collected the code first; this one is kept
	// as a conflict for the seller, never as a second collection.
	Conflict Outcome = "conflict"
)

// Store keeps collections: one per code, and the conflicting attempts of
// other desks. MemStore and RedisStore implement it.
type Store interface {
	// Collect records c as the code's collection unless it has one, or as
	// a conflict when another desk has it (once per desk and collection
	// id). A collection resent (same desk and id) gets the first result
	// again, with New false.
	Collect(ctx context.Context, c Collection) (CollectResult, error)
	// Collections returns the recorded collections of the codes that have
	// one.
	Collections(ctx context.Context, codes []string) (map[string]Collection, error)
	// Conflicts lists the other desks' attempts at code, by desk (and
	// collection id).
	Conflicts(ctx context.Context, code string) ([]Collection, error)
	// ConflictCounts counts the other desks' attempts at each of codes
	// (codes without one are left out).
	ConflictCounts(ctx context.Context, codes []string) (map[string]int, error)
	// MarkMailed notes that code's notice goes out; only the first call
	// for a code reports true (every edge and retry asks).
	MarkMailed(ctx context.Context, code string) (bool, error)

	// The index of pickup orders (index.go): the desks' list and sync
	// read it instead of every order of every drop.

	// Index records entries, idempotently: each code names its order, and
	// is listed on the day it was created and among the open codes until
	// collected (Collect lists it on every day from its creation to its
	// collection, and so does Index for a code collected before).
	Index(ctx context.Context, entries []IndexEntry) error
	// Indexed reads the entries of codes (a code not indexed is absent).
	Indexed(ctx context.Context, codes []string) (map[string]IndexEntry, error)
	// DayCodes lists the codes day's list may hold: those open or
	// collected that day (created that day or before, collected that day
	// or after), and every open one.
	DayCodes(ctx context.Context, day time.Time) ([]string, error)
	// Retire takes codes out of the open ones: their orders were cancelled
	// or refunded, so they are never collected.
	Retire(ctx context.Context, codes []string) error
	// Cursors reads how far the index has read each drop's orders.
	Cursors(ctx context.Context) (map[string]int, error)
	// SetCursors records the cursors (never moving one back).
	SetCursors(ctx context.Context, cursors map[string]int) error
}
