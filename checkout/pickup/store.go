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
	// Collect records c as the code's collection unless it has one. It
	// returns the outcome and the code's recorded (first) collection.
	Collect(ctx context.Context, c Collection) (Outcome, Collection, error)
	// Collections returns the recorded collections of the codes that have
	// one.
	Collections(ctx context.Context, codes []string) (map[string]Collection, error)
	// Conflicts lists the other desks' attempts at code, by desk.
	Conflicts(ctx context.Context, code string) ([]Collection, error)
	// ConflictCounts counts the other desks' attempts at each of codes
	// (codes without one are left out).
	ConflictCounts(ctx context.Context, codes []string) (map[string]int, error)
	// MarkMailed notes that code's notice goes out; only the first call
	// for a code reports true (every edge and retry asks).
	MarkMailed(ctx context.Context, code string) (bool, error)
}
