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
// first within each drop.
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
