package checkout

import "errors"

// Class groups errors by what the caller can do about them; adapters map a
// class to their status code in one place.
type Class int

// Error classes.
const (
	ClassInternal    Class = iota // a bug or an unexpected failure
	ClassInvalid                  // malformed input
	ClassNotFound                 // no such drop, SKU or order
	ClassConflict                 // state does not allow it (drop exists, bad transition)
	ClassSoldOut                  // no units left
	ClassNotOpen                  // drop not open for orders
	ClassLimit                    // over the per-buyer limit
	ClassRateLimited              // too many requests from one buyer
	ClassUnavailable              // store unreachable and no lease to sell from; retry later
	ClassHeld                     // the last units are held by other edges; retry shortly
)

type classError struct {
	class Class
	msg   string
}

func (e *classError) Error() string { return e.msg }

// Sentinel errors. Wrap them with %w to add context; ClassOf finds the class.
var (
	ErrInvalid         = &classError{ClassInvalid, "invalid request"}
	ErrNotFound        = &classError{ClassNotFound, "not found"}
	ErrDropExists      = &classError{ClassConflict, "drop already exists"}
	ErrConflict        = &classError{ClassConflict, "conflict"}
	ErrSoldOut         = &classError{ClassSoldOut, "sold out"}
	ErrNotOpen         = &classError{ClassNotOpen, "drop is not open"}
	ErrLimit           = &classError{ClassLimit, "over the per-buyer limit"}
	ErrRateLimited     = &classError{ClassRateLimited, "rate limited"}
	ErrUnavailable     = &classError{ClassUnavailable, "temporarily unavailable"}
	ErrClosed          = &classError{ClassUnavailable, "shutting down"}
	ErrHeld            = &classError{ClassHeld, "the last units are held by other edges and may come back: try again shortly"}
	ErrLimitHeld       = &classError{ClassHeld, "a purchase limit of this order is held by another edge and comes back within a sync: try again shortly"}
	ErrLeaseGone       = &classError{ClassConflict, "lease gone"}
	ErrPaymentDeclined = errors.New("payment declined")
)

// ClassOf returns the class of err, ClassInternal if it has none.
func ClassOf(err error) Class {
	var ce *classError
	if errors.As(err, &ce) {
		return ce.class
	}
	return ClassInternal
}
