package checkout

import (
	"context"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// The seller's view of a drop's orders on the control side: pages of them,
// newest first and searchable, and refunds of one order or a whole drop
// through the payment provider.

// Bounds of an order listing.
const (
	// MaxOrderPage is the most orders one page holds.
	MaxOrderPage = 500
	// MaxOrderScan is the most orders one search reads before it answers
	// the page it has (Next says where to go on).
	MaxOrderScan = 20_000
	// MaxSearchLen bounds a search string.
	MaxSearchLen = 100
)

// OrderQuery asks for a page of a drop's orders.
type OrderQuery struct {
	// Search keeps orders whose id, buyer, SKU or status contains it (any
	// case); empty keeps all.
	Search string
	// Before is the Next of the previous page (0: from the newest).
	Before int
	// Limit is the page size (0: 50; at most MaxOrderPage).
	Limit int
}

// OrderPage is a page of a drop's orders, newest first.
type OrderPage struct {
	Drop   string  `json:"drop"`
	Orders []Order `json:"orders"`
	// Total is how many orders the drop has recorded; a live feed started
	// with it as its start sends the orders after this page's newest.
	Total int `json:"total"`
	// Next is the Before of the next (older) page; 0: this was the last.
	Next int `json:"next,omitempty"`
}

// Orders reads a page of drop's orders.
func (c *Control) Orders(ctx context.Context, drop string, q OrderQuery) (OrderPage, error) {
	switch {
	case !ValidID(drop):
		return OrderPage{}, fmt.Errorf("drop id: %w", ErrInvalid)
	case len(q.Search) > MaxSearchLen:
		return OrderPage{}, fmt.Errorf("%w: q longer than %d", ErrInvalid, MaxSearchLen)
	case q.Before < 0 || q.Limit < 0:
		return OrderPage{}, fmt.Errorf("%w: before and limit must be >= 0", ErrInvalid)
	}
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	limit = min(limit, MaxOrderPage)
	search := strings.ToLower(strings.TrimSpace(q.Search))
	page := OrderPage{Drop: drop, Orders: []Order{}}
	before, scanned, first := q.Before, 0, true
	for {
		batch := limit
		if search != "" {
			batch = MaxOrderPage
		}
		got, total, err := c.store.DropOrders(ctx, drop, before, batch)
		if err != nil {
			return OrderPage{}, err
		}
		if first {
			page.Total = total
			if before <= 0 || before > total {
				before = total
			}
			first = false
		}
		for i, o := range got {
			if search == "" || matches(o, search) {
				page.Orders = append(page.Orders, o)
				if len(page.Orders) == limit {
					page.Next = before - i - 1
					return page, nil
				}
			}
		}
		before -= len(got)
		scanned += len(got)
		if before <= 0 || len(got) == 0 {
			return page, nil
		}
		if scanned >= MaxOrderScan {
			page.Next = before
			return page, nil
		}
	}
}

func matches(o Order, search string) bool {
	for _, f := range []string{o.ID, o.Buyer, o.SKU, o.Status} {
		if strings.Contains(strings.ToLower(f), search) {
			return true
		}
	}
	return false
}

func newRefundMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	m := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_refunds_total",
		Help: "Orders the seller took back, by result (refunded: paid, payment refunded; cancelled: pending, hold released; already: refunded or cancelled before; error: the payment provider or the store failed)."},
		[]string{"result"})
	if err := reg.Register(m); err != nil {
		return nil, err
	}
	for _, r := range []string{"refunded", "cancelled", "already", "error"} {
		m.WithLabelValues(r)
	}
	return m, nil
}

// refundAttempts bounds how often RefundOrder reads an order again that
// changed status under it (an edge confirming its payment meanwhile).
const refundAttempts = 4

// RefundOrder takes order id back for the seller: a paid order's payment
// is refunded with the provider (idempotently, by order id), then the order
// becomes refunded; a pending one becomes cancelled, and the edge running
// its payment refunds whatever it captured when it finds it cancelled.
// With restock its units are free to sell again, atomically with the change.
// An order refunded or cancelled before is returned unchanged.
func (c *Control) RefundOrder(ctx context.Context, id string, restock bool) (Order, error) {
	o, _, err := c.refundOrder(ctx, id, restock)
	return o, err
}

// refundOrder is RefundOrder, also saying whether this call changed it.
func (c *Control) refundOrder(ctx context.Context, id string, restock bool) (Order, bool, error) {
	if _, ok := DropOfOrder(id); !ok {
		return Order{}, false, fmt.Errorf("order id %q: %w", id, ErrNotFound)
	}
	for range refundAttempts {
		o, err := c.store.Order(ctx, id)
		if err != nil {
			return Order{}, false, c.refundFailed(err)
		}
		switch o.Status {
		case StatusPending:
		case StatusPaid:
			// The payment first: a store change that fails is retried,
			// and the provider refunds one order once.
			if err := c.pay.Refund(ctx, o.ID); err != nil {
				c.logger.Warn("refund: payment provider failed", "order", o.ID, "err", err)
				return Order{}, false, c.refundFailed(fmt.Errorf("refund the payment of order %s: %w: %w", o.ID, ErrUnavailable, err))
			}
		default:
			c.refunds.WithLabelValues("already").Inc()
			return o, false, nil
		}
		got, changed, err := c.store.Refund(ctx, RefundOp{ID: id, From: o.Status, Restock: restock})
		if err != nil {
			return Order{}, false, c.refundFailed(err)
		}
		if changed {
			c.refunds.WithLabelValues(got.Status).Inc() // refunded or cancelled
			c.logger.Info("order taken back", "order", id, "status", got.Status, "restock", restock)
			c.reports.invalidate(got.Drop) // control_report_cache.go
			if restock {
				c.offerWaitlist(ctx, got.Drop) // control_waitlist.go: the unit goes to the waitlist first
			}
			return got, true, nil
		}
	}
	return Order{}, false, c.refundFailed(fmt.Errorf("order %s kept changing status: %w", id, ErrConflict))
}

func (c *Control) refundFailed(err error) error {
	if ClassOf(err) != ClassNotFound && ClassOf(err) != ClassInvalid {
		c.refunds.WithLabelValues("error").Inc()
	}
	return err
}

// DropRefund counts what RefundDrop did.
type DropRefund struct {
	Drop      string `json:"drop"`
	Refunded  int    `json:"refunded"`
	Cancelled int    `json:"cancelled"`
	Already   int    `json:"already"`
}

// RefundDrop refunds or cancels every order drop had recorded when it
// started (RefundOrder each, newest first); orders placed meanwhile are
// left (close the drop first to stop them). It stops at the first failure
// with what it did so far: calling it again goes on where it failed.
func (c *Control) RefundDrop(ctx context.Context, drop string, restock bool) (DropRefund, error) {
	if !ValidID(drop) {
		return DropRefund{}, fmt.Errorf("drop id: %w", ErrInvalid)
	}
	res := DropRefund{Drop: drop}
	before := 0
	for {
		got, total, err := c.store.DropOrders(ctx, drop, before, MaxOrderPage)
		if err != nil {
			return res, err
		}
		if before == 0 {
			before = total
		}
		for _, o := range got {
			if o.Status != StatusPending && o.Status != StatusPaid {
				res.Already++
				continue
			}
			r, changed, err := c.refundOrder(ctx, o.ID, restock)
			if err != nil {
				return res, err
			}
			switch {
			case !changed:
				res.Already++
			case r.Status == StatusRefunded:
				res.Refunded++
			default:
				res.Cancelled++
			}
		}
		before -= len(got)
		if before <= 0 || len(got) == 0 {
			return res, nil
		}
	}
}
