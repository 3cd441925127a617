package checkout

import (
	"context"
	"fmt"
)

// OrderWatch follows one drop's orders for a live view: each Poll returns
// the orders recorded since the last, and the recent ones whose status
// changed (paid, refunded, cancelled). It reads the store's newest page
// once per Poll and keeps only that window's statuses: bounded whatever the
// drop's size. One goroutine polls it.
type OrderWatch struct {
	store  Store
	drop   string
	seen   int               // orders recorded when last polled
	status map[string]string // the last window's orders and their status
}

// Bounds of a watch.
const (
	// watchWindow is how many of the newest orders a watch follows for
	// status changes.
	watchWindow = 100
	// MaxWatchBatch is the most new orders one Poll returns; past it the
	// oldest of them are skipped (Poll says how many).
	MaxWatchBatch = 1000
)

// WatchOrders starts a watch of drop's orders after its first after orders
// (the Total of the page a client shows); after < 0: from now.
func (c *Control) WatchOrders(ctx context.Context, drop string, after int) (*OrderWatch, error) {
	if !ValidID(drop) {
		return nil, fmt.Errorf("drop id: %w", ErrInvalid)
	}
	page, total, err := c.store.DropOrders(ctx, drop, 0, watchWindow)
	if err != nil {
		return nil, err
	}
	w := &OrderWatch{store: c.store, drop: drop, seen: total, status: make(map[string]string, len(page))}
	if after >= 0 && after < total {
		w.seen = after
	}
	for i, o := range page {
		if total-i > w.seen {
			continue // new to the client: the first Poll sends it
		}
		w.status[o.ID] = o.Status
	}
	return w, nil
}

// Poll returns what changed since the last Poll, oldest first, the drop's
// order count, and how many new orders were skipped (over MaxWatchBatch).
func (w *OrderWatch) Poll(ctx context.Context) (changed []Order, total, skipped int, err error) {
	page, total, err := w.store.DropOrders(ctx, w.drop, 0, watchWindow)
	if err != nil {
		return nil, 0, 0, err
	}
	fresh := total - w.seen
	var out []Order // newest first, reversed at the end
	if fresh > len(page) {
		// A burst past the window: read back to where the last poll was.
		from := max(w.seen, total-MaxWatchBatch)
		skipped = from - w.seen
		out = make([]Order, 0, total-from)
		for before := total; before > from; {
			got, _, err := w.store.DropOrders(ctx, w.drop, before, min(MaxOrderPage, before-from))
			if err != nil {
				return nil, 0, 0, err
			}
			if len(got) == 0 {
				break
			}
			out = append(out, got...)
			before -= len(got)
		}
	}
	status := make(map[string]string, len(page))
	for i, o := range page {
		status[o.ID] = o.Status
		switch {
		case i < fresh:
			if fresh <= len(page) {
				out = append(out, o)
			}
		case w.status[o.ID] != o.Status:
			out = append(out, o)
		}
	}
	w.status, w.seen = status, total
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, total, skipped, nil
}
