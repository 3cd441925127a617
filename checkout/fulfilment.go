package checkout

import (
	"context"
	"time"
)

// How an order reaches its buyer, and the control side's read of the
// orders to be picked up at the stall (checkout/pickup builds on it).

// FulfilmentPickup: the buyer collects the order at the seller's stall.
const FulfilmentPickup = "pickup"

// ValidFulfilment reports whether f is a fulfilment an order may ask for.
func ValidFulfilment(f string) bool { return f == "" || f == FulfilmentPickup }

// maxPickupOrders bounds the orders one pickup list holds.
const maxPickupOrders = 50_000

// PickupOrders reads every order of every drop that is for pickup, was
// created before until, and is neither cancelled nor refunded, oldest
// first within each drop: a full read, for tests and tools (the pickup
// desks keep an index from PickupOrdersSince instead).
func (c *Control) PickupOrders(ctx context.Context, until time.Time) ([]Order, error) {
	ids, err := c.store.ListDrops(ctx)
	if err != nil {
		return nil, err
	}
	var out []Order
	for _, id := range ids {
		_, orders, err := c.Sales(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, o := range orders {
			if o.Fulfilment != FulfilmentPickup || !o.CreatedAt.Before(until) ||
				o.Status == StatusCancelled || o.Status == StatusRefunded {
				continue
			}
			if out = append(out, o); len(out) >= maxPickupOrders {
				return out, nil
			}
		}
	}
	return out, nil
}

// PickupOrdersSince reads the pickup orders every drop recorded past its
// cursor (how many of the drop's orders a previous call read; a drop not
// in cursors is read from its first order), whatever their status, and
// returns them with the cursors to pass next. A caller keeping an index of
// pickup orders reads each order once: a call with nothing new costs one
// read of each drop's newest order.
func (c *Control) PickupOrdersSince(ctx context.Context, cursors map[string]int) ([]Order, map[string]int, error) {
	ids, err := c.store.ListDrops(ctx)
	if err != nil {
		return nil, nil, err
	}
	next := make(map[string]int, len(ids))
	var out []Order
	for _, id := range ids {
		from := max(cursors[id], 0)
		_, total, err := c.store.DropOrders(ctx, id, 0, 1)
		if err != nil {
			return nil, nil, err
		}
		if from > total {
			from = total
		}
		for before := total; before > from; {
			page, _, err := c.store.DropOrders(ctx, id, before, min(MaxOrderPage, before-from))
			if err != nil {
				return nil, nil, err
			}
			if len(page) == 0 {
				break
			}
			for _, o := range page {
				if o.Fulfilment == FulfilmentPickup {
					out = append(out, o)
				}
			}
			before -= len(page)
		}
		next[id] = total
	}
	return out, next, nil
}

// Order reads one order by id (ErrNotFound).
func (c *Control) Order(ctx context.Context, id string) (Order, error) {
	return c.store.Order(ctx, id)
}
