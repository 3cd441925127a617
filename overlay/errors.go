package overlay

import "errors"

// Sentinel errors. Wrap them with %w to add a reason; adapters map them to
// their status codes in one place.
var (
	// ErrInvalid is malformed input (400).
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound is an unknown stream overlay, drop or SKU (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict is a request the current state does not allow: a closed
	// drop, too many overlays (409).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable is a store that did not answer; retry later (503).
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrClosed is a hub that has stopped.
	ErrClosed = errors.New("overlay hub stopped")
)
