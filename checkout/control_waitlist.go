package checkout

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// The control side of a lottery's waitlist: after the draw files it, every
// reap tick (and at once after a refund with restock) offers the free units
// of a waitlisted SKU to the waiting entries in place order (waitlist.go).

// waitlistPage is how many waiting entries one read brings, and
// waitlistPages how many reads one tick makes at most (free units no
// waiting quantity fits are looked at again the next tick).
const (
	waitlistPage  = 200
	waitlistPages = 10
)

func newWaitlistOffers(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_waitlist_offers_total",
		Help: "Units that came back to a sold-out lottery drop and were offered to its waitlist, by result (offered: an order was created for the next waiting buyer; limit: a purchase limit refused that buyer, who left the waitlist)."},
		[]string{"result"})
	return c, reg.Register(c)
}

// offerWaitlist offers drop's free units to its waitlist, if it has one.
func (c *Control) offerWaitlist(ctx context.Context, drop string) {
	if err := c.offerWaitlistOnce(ctx, drop); err != nil {
		c.logger.Debug("offer waitlist", "drop", drop, "err", err)
	}
}

func (c *Control) offerWaitlistOnce(ctx context.Context, drop string) error {
	d, err := c.store.Drop(ctx, drop)
	if err != nil || d.Lottery == nil || d.State != StateOpen {
		return err
	}
	t, err := c.store.Totals(ctx, drop)
	if err != nil {
		return err
	}
	free := map[string]int{}
	for _, sk := range t.SKUs {
		if sk.Waitlist > 0 && sk.Free > 0 {
			free[sk.SKU] = sk.Free
		}
	}
	from := 0
	for pages := 0; len(free) > 0 && pages < waitlistPages; pages++ {
		page, err := c.store.Waiting(ctx, drop, from, waitlistPage)
		if err != nil || len(page) == 0 {
			return err
		}
		for i := range page {
			e := &page[i]
			if free[e.SKU] < e.Qty {
				from++ // keeps waiting: its turn comes with enough units
				continue
			}
			res, err := c.store.OfferWaitlist(ctx, c.awardItem(d, e, c.now().UTC()))
			if err != nil {
				return err
			}
			switch res.Outcome {
			case OutcomeCreated:
				c.waitlst.WithLabelValues("offered").Inc()
				c.logger.Info("waitlist: a unit came free and went to the next place", "drop", drop,
					"place", e.Place, "order", res.Order.ID, "sku", e.SKU, "qty", e.Qty)
				free[e.SKU] -= e.Qty
			case OutcomeLimit:
				c.waitlst.WithLabelValues("limit").Inc()
			case OutcomeExists, OutcomeDuplicate, OutcomeNotWaiting:
			case OutcomeSoldOut:
				delete(free, e.SKU) // taken meanwhile: the next tick looks again
				from++
			case OutcomeNotOpen:
				return nil
			default: // limitheld: the allowance is asked back, it keeps its place
				from++
			}
			if free[e.SKU] <= 0 {
				delete(free, e.SKU)
			}
			if len(free) == 0 {
				return nil
			}
		}
	}
	return nil
}
