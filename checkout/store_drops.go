package checkout

import "context"

// DropEditStore replaces the definition of a drop that has not opened yet
// (control_drops.go); RedisStore and MemStore implement it.
type DropEditStore interface {
	// UpdateDrop replaces drop d.ID's stream, SKUs (stock included), gate
	// and opening, keeping its state: ErrNotFound, or ErrConflict when it
	// is no longer created or any unit was reserved, leased or sold.
	UpdateDrop(ctx context.Context, d Drop) error
}

// editRefusal words why a drop can no longer be edited.
const editRefusal = "it can no longer be edited (only a drop that has not opened, with nothing reserved, leased or sold, can)"
