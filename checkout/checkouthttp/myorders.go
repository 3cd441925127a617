package checkouthttp

import (
	"context"
	"fmt"
	"sort"

	"github.com/livedrop/livedrop/checkout"
)

// MaxScannedOrders bounds the orders ScanBuyerOrders reads for one answer.
const MaxScannedOrders = 20000

// ScanBuyerOrders lists a buyer's orders by reading every order of every
// drop in store: the stand-in for checkout.Edge's buyer index, used only
// where the edge has none (see BuyerOrdersOf). Past MaxScannedOrders it
// answers unavailable rather than read on.
func ScanBuyerOrders(store checkout.Store) BuyerOrders { return scan{store} }

// BuyerOrdersOf is the edge's own buyer index when it has one, else a
// scan of store.
func BuyerOrdersOf(edge any, store checkout.Store) BuyerOrders {
	if bo, ok := edge.(BuyerOrders); ok {
		return bo
	}
	return ScanBuyerOrders(store)
}

type scan struct{ store checkout.Store }

func (s scan) BuyerOrders(ctx context.Context, buyer string) ([]checkout.Order, error) {
	drops, err := s.store.ListDrops(ctx)
	if err != nil {
		return nil, err
	}
	var out []checkout.Order
	seen := map[string]bool{}
	read := 0
	for _, d := range drops {
		cursor := ""
		for {
			ids, next, err := s.store.OrdersSince(ctx, d, cursor, 1000)
			if err != nil {
				return nil, err
			}
			for _, id := range ids {
				if seen[id] {
					continue // created, then cancelled: one order
				}
				seen[id] = true
				if read++; read > MaxScannedOrders {
					return nil, fmt.Errorf("%w: too many orders to list without the buyer index", checkout.ErrUnavailable)
				}
				o, err := s.store.Order(ctx, id)
				if err != nil {
					continue // cancelled and reaped, or not yet readable
				}
				if o.Buyer == buyer {
					out = append(out, o)
				}
			}
			if next == cursor {
				break
			}
			cursor = next
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}
