package giveaway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// Store errors.
var (
	ErrNotFound = errors.New("no such giveaway")
	ErrExists   = errors.New("giveaway exists")
)

// Record is a stored giveaway: what viewers see (Info, whose seed,
// entrants and winner stay empty until the draw) and what only the store
// keeps until then (the seed).
type Record struct {
	Info Info `json:"info"`
	// SecretSeed is the hex seed, revealed (Info.Seed) at the draw.
	SecretSeed string `json:"seed"`
	// Fulfilment is the winner's order's fulfilment ("" or pickup).
	Fulfilment string `json:"fulfilment,omitempty"`
}

// Result is a draw's outcome, set once.
type Result struct {
	Winner string `json:"winner"`
	Order  string `json:"order"`
	// Entrants are the sorted entrants the winner was drawn from.
	Entrants []string `json:"entrants"`
}

// Store keeps giveaways where every edge and the origin see them: the
// record, the entries (one per buyer), a closed mark and the result.
// MemStore and RedisStore implement it.
type Store interface {
	// Create stores r, or returns ErrExists if its id is taken.
	Create(ctx context.Context, r Record) error
	// Get returns the record with Info.Entrants counted, and the result
	// once set (ok false before). ErrNotFound.
	Get(ctx context.Context, id string) (r Record, res Result, ok bool, err error)
	// Enter adds buyer's entry; it reports whether it is new (entering
	// twice is one entry). ErrNotFound; ErrClosed once the draw began.
	Enter(ctx context.Context, id, buyer string) (bool, error)
	// Close ends entries (for good) and returns the entrants, sorted.
	Close(ctx context.Context, id string) ([]string, error)
	// SetResult records res unless one is set, and returns the one set.
	SetResult(ctx context.Context, id string, res Result) (Result, error)
	// Latest is the id of the giveaway started last on stream ("" none).
	Latest(ctx context.Context, stream string) (string, error)
	// List is every giveaway's id, sorted (the event report).
	List(ctx context.Context) ([]string, error)
	// Entrants reads a giveaway's entrants, sorted, without closing it.
	// ErrNotFound.
	Entrants(ctx context.Context, id string) ([]string, error)
	// Subscribe calls f with each giveaway's start (Create) and draw
	// (SetResult) until ctx ends (changes.go).
	Subscribe(ctx context.Context, f func(Change)) error
}

// EntrantsDigest is the hex SHA-256 of the sorted entrants, one a line:
// what the draw answer shows so a viewer can check the list they re-run.
func EntrantsDigest(sorted []string) string {
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return hex.EncodeToString(sum[:])
}
