package checkout

import (
	"context"
	"fmt"
)

// The control side's read of every order of a drop, for the event report.

// maxReportOrders bounds the orders one report reads.
const maxReportOrders = 200_000

// Sales reads drop's definition and every order the store holds of it
// (cancelled ones included), oldest first.
func (c *Control) Sales(ctx context.Context, drop string) (Drop, []Order, error) {
	if !ValidID(drop) {
		return Drop{}, nil, fmt.Errorf("drop id: %w", ErrInvalid)
	}
	d, err := c.store.Drop(ctx, drop)
	if err != nil {
		return Drop{}, nil, err
	}
	var out []Order
	seen := map[string]bool{}
	cursor := ""
	for len(out) < maxReportOrders {
		ids, next, err := c.store.OrdersSince(ctx, drop, cursor, 1000)
		if err != nil {
			return Drop{}, nil, err
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			o, err := c.store.Order(ctx, id)
			if err != nil {
				return Drop{}, nil, fmt.Errorf("order %s: %w", id, err)
			}
			out = append(out, o)
		}
		if next == cursor { // nothing after cursor
			break
		}
		cursor = next
	}
	return d, out, nil
}

// Drop reads a drop's definition (its QR sign shows its stream and what it
// sells).
func (c *Control) Drop(ctx context.Context, id string) (Drop, error) {
	if !ValidID(id) {
		return Drop{}, fmt.Errorf("drop id: %w", ErrInvalid)
	}
	return c.store.Drop(ctx, id)
}
