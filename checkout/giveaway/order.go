package giveaway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// The winner's prize as an order: a zero-price order of the giveaway's own
// drop, by a fixed id, so recording it again finds it.

// orderDrop is the checkout drop giveaway id's prize order is recorded in:
// one SKU (the prize), one unit.
func orderDrop(id string) string { return "give-" + id }

// prizeSKU is the SKU of the prize in its drop.
const prizeSKU = "prize"

// prizeCurrency is the zero price's currency (nothing is charged).
const prizeCurrency = "EUR"

// IsOrderDrop reports whether drop holds a giveaway's prize order (such
// an order is no purchase for the buyers rule).
func IsOrderDrop(drop string) bool { return strings.HasPrefix(drop, "give-") }

// OrderID is the id of the prize order of giveaway id for winner.
func OrderID(id, winner string) string { return checkout.OrderID(orderDrop(id), winner, "giveaway") }

// winnerOrder records r's prize for winner as a paid zero-price order with
// r's fulfilment (pickup: the stall's desk hands it over with its code).
func winnerOrder(ctx context.Context, orders checkout.Store, r Record, winner string, now time.Time) (checkout.Order, error) {
	id := r.Info.ID
	drop := orderDrop(id)
	name := r.Info.Prize
	if name == "" {
		name = "Giveaway prize"
	}
	err := orders.CreateDrop(ctx, checkout.Drop{ID: drop, Stream: r.Info.Stream,
		SKUs: []checkout.SKU{{SKU: prizeSKU, Name: name, PriceCents: 0, Currency: prizeCurrency, Stock: 1}}})
	if err != nil && !errors.Is(err, checkout.ErrDropExists) {
		return checkout.Order{}, fmt.Errorf("giveaway %s: order drop: %w", id, err)
	}
	if err := orders.SetState(ctx, drop, checkout.StateOpen); err != nil && !errors.Is(err, checkout.ErrConflict) {
		return checkout.Order{}, fmt.Errorf("giveaway %s: open the order drop: %w", id, err)
	}
	o := checkout.Order{ID: OrderID(id, winner), Drop: drop, SKU: prizeSKU, Qty: 1, Buyer: winner, PriceCents: 0,
		Currency: prizeCurrency, TotalCents: 0, Status: checkout.StatusPending, Edge: "giveaway", CreatedAt: now.UTC(),
		Channel: "giveaway", Fulfilment: r.Fulfilment}
	if stored, err := orders.Order(ctx, o.ID); err == nil {
		o = stored
	} else {
		res, err := orders.SellDirect(ctx, checkout.ShipItem{Order: o, Hold: time.Hour})
		if err != nil {
			return checkout.Order{}, fmt.Errorf("giveaway %s: record the order: %w", id, err)
		}
		switch res.Outcome {
		case checkout.OutcomeCreated, checkout.OutcomeExists, checkout.OutcomeDuplicate:
			o = res.Order
		default:
			return checkout.Order{}, fmt.Errorf("giveaway %s: the order store answered %s", id, res.Outcome)
		}
	}
	_ = orders.SetState(ctx, drop, checkout.StateClosed)
	if o.Status != checkout.StatusPending {
		return o, nil
	}
	return orders.ConfirmPayment(ctx, o.ID) // nothing to charge
}
