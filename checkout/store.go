package checkout

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// Store holds the truth of drops, stock, leases and orders. RedisStore and
// MemStore implement it with the same semantics; every state change is atomic.
type Store interface {
	// RSVPStore reserves units for RSVP tokens and sells them (rsvp.go).
	RSVPStore

	// CreateDrop stores a new drop in state created (ErrDropExists if taken).
	CreateDrop(ctx context.Context, d Drop) error
	// SetState moves a drop to open or closed (ErrNotFound, ErrConflict).
	SetState(ctx context.Context, drop, state string) error
	// Drop reads a drop's definition and state.
	Drop(ctx context.Context, id string) (Drop, error)
	// Totals reads a drop's live totals.
	Totals(ctx context.Context, id string) (Totals, error)
	// View reads what an edge needs each sync: the drop's state and, per SKU,
	// free units, units leased by all edges, and the units of edge's lease.
	View(ctx context.Context, drop, edge string, skus []string) (DropView, error)
	// ListDrops lists the ids of all drops.
	ListDrops(ctx context.Context) ([]string, error)

	// Grant moves up to op.Units free units into the edge's lease, keeping
	// op.Threshold units free for direct sales. Retrying with the same OpID
	// returns the first answer.
	Grant(ctx context.Context, op LeaseOp) (Grant, error)
	// Return moves up to op.Units of the edge's lease back to free stock.
	// Retrying with the same OpID returns the first answer.
	Return(ctx context.Context, op LeaseOp) (int, error)
	// Renew extends the edge's lease and returns its units (ErrLeaseGone if
	// it was reclaimed).
	Renew(ctx context.Context, drop, sku, edge string, ttl time.Duration) (int, error)

	// Allow leases purchase-limit allowances to op.Edge (see AllowOp); it
	// answers, per item, the units the edge may sell to that subject (0: at
	// the limit, nothing is held), or -1 when another edge holds the
	// allowance (op.Want marks it wanted, so that edge hands it back).
	Allow(ctx context.Context, op AllowOp) ([]int, error)
	// Release hands allowances back: those of items that edge holds are
	// free, and no longer wanted from it.
	Release(ctx context.Context, drop, edge string, items []AllowItem) error

	// Ship records orders sold from leases, idempotently by order id.
	Ship(ctx context.Context, items []ShipItem) ([]ShipResult, error)
	// SellDirect sells straight from free stock (no lease).
	SellDirect(ctx context.Context, item ShipItem) (ShipResult, error)
	// Order reads an order (ErrNotFound).
	Order(ctx context.Context, id string) (Order, error)
	// OrdersSince lists the ids of drop's orders recorded after cursor (""
	// for the start), at most about limit, and the cursor to pass next: an
	// edge keeps an index of every order id of the drop with it.
	OrdersSince(ctx context.Context, drop, cursor string, limit int) (ids []string, next string, err error)
	// BuyerOrders lists buyer's orders of every drop, newest first (by the
	// time the store recorded them), at most limit.
	BuyerOrders(ctx context.Context, buyer string, limit int) ([]Order, error)
	// ConfirmPayment marks a pending order paid and returns it; an order that
	// is no longer pending is returned unchanged.
	ConfirmPayment(ctx context.Context, id string) (Order, error)
	// Cancel cancels a pending order and returns its units to the drop.
	Cancel(ctx context.Context, id, reason string) (Order, error)

	// DropOrders reads drop's orders by their place in the order the store
	// recorded them (0 the first): those before position before (<= 0 or
	// past the end: from the newest), at most limit, newest first, and how
	// many orders the drop has recorded. Positions never change: an order
	// recorded later gets the next one.
	DropOrders(ctx context.Context, drop string, before, limit int) (orders []Order, total int, err error)
	// Refund cancels a pending or refunds a paid order for the seller
	// (RefundOp), atomically with its units going back to free stock or
	// out of the drop's stock. It returns the order as stored and whether
	// this call changed it; an order not in op.From is left unchanged.
	Refund(ctx context.Context, op RefundOp) (Order, bool, error)

	// ReapHolds cancels pending orders of drop whose hold expired.
	ReapHolds(ctx context.Context, drop string) (int, error)
	// ReapLeases returns expired leases of drop to free stock.
	ReapLeases(ctx context.Context, drop string) (int, error)

	// LotteryStore keeps opening lotteries (lottery.go).
	LotteryStore
	// WaitlistStore keeps a lottery's waitlist (waitlist.go).
	WaitlistStore
	// DropEditStore edits drops before they open (store_drops.go).
	DropEditStore

	// Close releases the store.
	Close() error
}

// RefundOp asks the store to take an order back for the seller: a pending
// order becomes cancelled (seller_cancelled), a paid one refunded
// (seller_refunded). Either way its units leave Sold and its limits, and
// with Restock they are free to sell again; without, they leave the drop's
// stock (the seller keeps them off sale). From is the status the caller saw
// (and for a paid order, refunded with the payment provider first): an
// order in another status is left as it is, so a pending order paid
// meanwhile is never refunded in the store without its payment.
type RefundOp struct {
	ID      string
	From    string
	Restock bool
}

// LeaseOp asks to grant or return lease units.
type LeaseOp struct {
	Drop, SKU, Edge string
	// OpID makes the operation idempotent across retries.
	OpID      string
	Units     int
	Threshold int
	TTL       time.Duration
}

// Grant is the answer to a lease request.
type Grant struct {
	// Units granted now (0 when Direct or NotOpen).
	Units int
	// Direct: free stock is at or below the threshold; sell directly.
	Direct bool
	// NotOpen: the drop is not open.
	NotOpen bool
	// Lease is the edge's lease after the grant (sold-but-unshipped included).
	Lease int
	// Free is the SKU's free stock after the grant.
	Free int
}

// AllowOp asks for allowances: the right to sell a subject the rest of its
// limit for a SKU, held by one edge at a time until TTL passes. The store
// keeps per (SKU, limit key) the units used (shipped and direct orders, less
// cancelled ones) and who holds the allowance until when.
type AllowOp struct {
	Drop, Edge string
	TTL        time.Duration
	// Want marks an allowance another edge holds as wanted from it (an
	// order waits for it); without it such items are only answered -1.
	Want  bool
	Items []AllowItem
}

// AllowItem is one SKU's limit in an AllowOp or a Release (Max is unused there).
type AllowItem struct {
	SKU   string
	Limit Limit
}

// DropView is what an edge reads each sync.
type DropView struct {
	State string
	SKUs  map[string]SKUView
	// Wanted are allowances this edge holds that other edges asked for.
	Wanted []AllowItem
}

// SKUView is one SKU in a DropView.
type SKUView struct {
	Free, Leased, MyLease int
}

// ShipItem is one order to record.
type ShipItem struct {
	Order Order
	// Limits are the order's limit keys (Order.Limits) with their maxima.
	Limits []Limit
	Hold   time.Duration
}

// Outcome says what happened to a shipped or directly sold order.
type Outcome string

// Outcomes.
const (
	OutcomeCreated   Outcome = "created"   // recorded now
	OutcomeExists    Outcome = "exists"    // this edge recorded it before
	OutcomeDuplicate Outcome = "duplicate" // another edge recorded it (same key)
	OutcomeCancelled Outcome = "cancelled" // recorded as cancelled (limit, lease expired)
	OutcomeSoldOut   Outcome = "soldout"
	OutcomeHeld      Outcome = "held" // no free units, but edges still hold leases
	OutcomeLimit     Outcome = "limit"
	OutcomeLimitHeld Outcome = "limitheld" // another edge holds the subject's allowance (now wanted)
	OutcomeNotOpen   Outcome = "notopen"
)

// ShipResult is the outcome and the order as stored.
type ShipResult struct {
	Outcome Outcome
	Order   Order
	// Limit is the limit key that refused (OutcomeLimit, OutcomeLimitHeld).
	Limit string
}

// OpenStore opens the Redis store when cfg names one, otherwise the
// embedded store with its journal under dataDir/checkout.
func OpenStore(ctx context.Context, cfg Config, dataDir string, logger *slog.Logger) (Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UsesRedis() {
		return OpenRedisStoreFor(ctx, cfg, logger)
	}
	if dataDir == "" {
		return nil, fmt.Errorf("embedded store: data dir: %w", ErrInvalid)
	}
	return OpenMemStore(filepath.Join(dataDir, "checkout", "store.journal"), nil, logger)
}
