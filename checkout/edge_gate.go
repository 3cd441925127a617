package checkout

import (
	"context"
	"fmt"
)

// Drop returns the drop's definition as this edge knows it (read from the
// store once, then from memory): what its order gate asks, its stream.
// Its SKUs slice is shared: read it, do not change it.
func (e *Edge) Drop(ctx context.Context, id string) (Drop, error) {
	if !ValidID(id) {
		return Drop{}, fmt.Errorf("%w: drop must be 1-%d of [A-Za-z0-9_-]", ErrInvalid, MaxIDLen)
	}
	ed, err := e.dropFor(ctx, id)
	if err != nil {
		return Drop{}, err
	}
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return ed.d, nil
}
