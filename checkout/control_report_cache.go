package checkout

import (
	"context"
	"sync"
	"time"
)

// The event report's cache of a drop's orders: a console polling the
// report each second would otherwise re-read every order each time. A
// cached read holds while the drop's order count is unchanged, no refund
// went through this Control, and it is younger than reportMaxAge (orders
// paid at an edge change status without changing the count).

// reportMaxAge bounds how long a cached read is believed.
const reportMaxAge = 5 * time.Second

// maxCachedReports bounds the drops cached.
const maxCachedReports = 64

type reportCache struct {
	mu sync.Mutex
	m  map[string]cachedSales
}

type cachedSales struct {
	drop   Drop
	orders []Order
	total  int // the drop's order count when read
	at     time.Time
}

func (rc *reportCache) invalidate(drop string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	delete(rc.m, drop)
}

// CachedSales is Sales with the cache: the orders are shared and must not
// be changed.
func (c *Control) CachedSales(ctx context.Context, drop string) (Drop, []Order, error) {
	if !ValidID(drop) {
		return Drop{}, nil, ErrInvalid
	}
	_, total, err := c.store.DropOrders(ctx, drop, 0, 1)
	if err != nil {
		return Drop{}, nil, err
	}
	now := c.now()
	rc := &c.reports
	rc.mu.Lock()
	cs, ok := rc.m[drop]
	rc.mu.Unlock()
	if ok && cs.total == total && now.Sub(cs.at) < reportMaxAge {
		return cs.drop, cs.orders, nil
	}
	d, orders, err := c.Sales(ctx, drop)
	if err != nil {
		return Drop{}, nil, err
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.m == nil || len(rc.m) >= maxCachedReports {
		rc.m = map[string]cachedSales{}
	}
	rc.m[drop] = cachedSales{drop: d, orders: orders, total: total, at: now}
	return d, orders, nil
}
