package checkout

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Redis store's orders: sales (ship, direct) in pipelines of scripts,
// reading orders, a drop's order index and a buyer's orders, payments,
// cancels and expired holds.

// OrdersSince implements Store: it reads the drop's order stream, where
// every recorded, paid or cancelled order is an entry; the cursor is a
// stream entry id.
func (s *RedisStore) OrdersSince(ctx context.Context, drop, cursor string, limit int) ([]string, string, error) {
	start := "-"
	if cursor != "" {
		start = "(" + cursor
	}
	msgs, err := s.rdb.XRangeN(ctx, dropKeys(drop).stream(), start, "+", int64(max(limit, 1))).Result()
	if err != nil {
		return nil, cursor, unavailable("read order stream", err)
	}
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if id, ok := m.Values["id"].(string); ok && m.Values["event"] != "paid" {
			ids = append(ids, id)
		}
		cursor = m.ID
	}
	return ids, cursor, nil
}

func shipArgs(it ShipItem) (keys, []string, []any, error) {
	o := it.Order
	k := dropKeys(o.Drop)
	enc, err := json.Marshal(o)
	if err != nil {
		return k, nil, nil, fmt.Errorf("encode order: %w", err)
	}
	ks := []string{k.sku(o.SKU), k.leases(), k.orders(), k.pending(), k.used(), k.stream(), k.meta(), k.buyerOrders(o.Buyer), k.allow(), k.wanted(), k.log()}
	args := make([]any, 0, 8+2*len(it.Limits))
	args = append(args, o.ID, string(enc), leaseField(o.SKU, o.Edge), o.Qty, o.TotalCents, it.Hold.Milliseconds(), o.Edge, len(it.Limits))
	for _, l := range it.Limits {
		args = append(args, limitField(o.SKU, l.Key), l.Max)
	}
	return k, ks, args, nil
}

func parseResult(vals []any, err error) (ShipResult, error) {
	if err != nil {
		return ShipResult{}, err
	}
	if len(vals) != 2 {
		return ShipResult{}, fmt.Errorf("unexpected reply %v", vals)
	}
	r := ShipResult{Outcome: Outcome(fmt.Sprint(vals[0]))}
	enc := fmt.Sprint(vals[1])
	switch {
	case r.Outcome == OutcomeLimit || r.Outcome == OutcomeLimitHeld:
		_, r.Limit, _ = strings.Cut(enc, "|")
	case enc != "":
		if err := json.Unmarshal([]byte(enc), &r.Order); err != nil {
			return ShipResult{}, fmt.Errorf("decode order: %w", err)
		}
	}
	return r, nil
}

// Ship implements Store. All items go in one pipeline (one round trip).
func (s *RedisStore) Ship(ctx context.Context, items []ShipItem) ([]ShipResult, error) {
	out := make([]ShipResult, len(items))
	for i := range items {
		if _, _, _, err := shipArgs(items[i]); err != nil {
			return nil, err
		}
	}
	cmds, err := s.sales(ctx, scriptShip, items)
	if err != nil {
		return nil, unavailable("ship orders", err)
	}
	for i, c := range cmds {
		r, err := parseResult(c.Slice())
		if err != nil {
			return nil, fmt.Errorf("ship order %s: %w", items[i].Order.ID, err)
		}
		out[i] = r
	}
	return out, nil
}

// sales runs script once per item in one pipeline, each after adding the
// order's drop to its buyer's drops (BuyerOrders), loading the script once
// if Redis does not have it.
func (s *RedisStore) sales(ctx context.Context, script *redis.Script, items []ShipItem) ([]*redis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(items))
		added := make(map[[2]string]bool, len(items))
		for i, it := range items {
			_, ks, args, err := shipArgs(it)
			if err != nil {
				return nil, err
			}
			if bd := [2]string{it.Order.Buyer, it.Order.Drop}; !added[bd] {
				added[bd] = true
				pipe.SAdd(ctx, buyerDropsKey(it.Order.Buyer), it.Order.Drop)
			}
			cmds[i] = script.EvalSha(ctx, pipe, ks, args...)
		}
		_, err := pipe.Exec(ctx)
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") && attempt == 0 {
			if lerr := script.Load(ctx, s.rdb).Err(); lerr != nil {
				return nil, lerr
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return cmds, nil
	}
}

// SellDirect implements Store.
func (s *RedisStore) SellDirect(ctx context.Context, it ShipItem) (ShipResult, error) {
	if _, _, _, err := shipArgs(it); err != nil {
		return ShipResult{}, err
	}
	cmds, err := s.sales(ctx, scriptDirect, []ShipItem{it})
	if err != nil {
		return ShipResult{}, unavailable("direct sale", err)
	}
	r, err := parseResult(cmds[0].Slice())
	if err != nil {
		return ShipResult{}, fmt.Errorf("direct sale: %w", err)
	}
	return r, nil
}

// BuyerOrders implements Store: the buyer's drops, then each drop's newest
// orders of the buyer, merged (three round trips, whatever the count).
func (s *RedisStore) BuyerOrders(ctx context.Context, buyer string, limit int) ([]Order, error) {
	limit = max(limit, 1)
	drops, err := s.rdb.SMembers(ctx, buyerDropsKey(buyer)).Result()
	if err != nil {
		return nil, unavailable("list the buyer's drops", err)
	}
	if len(drops) == 0 {
		return []Order{}, nil
	}
	pipe := s.rdb.Pipeline()
	ranges := make([]*redis.ZSliceCmd, len(drops))
	for i, d := range drops {
		ranges[i] = pipe.ZRevRangeWithScores(ctx, dropKeys(d).buyerOrders(buyer), 0, int64(limit-1))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable("list the buyer's orders", err)
	}
	type ref struct {
		drop, id string
		at       float64
	}
	var refs []ref
	for i, r := range ranges {
		for _, z := range r.Val() {
			refs = append(refs, ref{drop: drops[i], id: fmt.Sprint(z.Member), at: z.Score})
		}
	}
	slices.SortFunc(refs, func(a, b ref) int {
		if a.at != b.at {
			return cmp.Compare(b.at, a.at)
		}
		return strings.Compare(b.id, a.id)
	})
	refs = refs[:min(len(refs), limit)]
	pipe = s.rdb.Pipeline()
	encs := make([]*redis.StringCmd, len(refs))
	for i, r := range refs {
		encs[i] = pipe.HGet(ctx, dropKeys(r.drop).orders(), r.id)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable("read the buyer's orders", err)
	}
	out := make([]Order, 0, len(refs))
	for i, c := range encs {
		enc, err := c.Result()
		if err != nil {
			continue // listed but gone (never: orders are not deleted)
		}
		var o Order
		if err := json.Unmarshal([]byte(enc), &o); err != nil {
			return nil, fmt.Errorf("decode order %s: %w", refs[i].id, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// Order implements Store.
func (s *RedisStore) Order(ctx context.Context, id string) (Order, error) {
	drop, ok := DropOfOrder(id)
	if !ok {
		return Order{}, fmt.Errorf("order %q: %w", id, ErrNotFound)
	}
	enc, err := s.rdb.HGet(ctx, dropKeys(drop).orders(), id).Result()
	if errors.Is(err, redis.Nil) {
		return Order{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Order{}, unavailable("read order", err)
	}
	var o Order
	if err := json.Unmarshal([]byte(enc), &o); err != nil {
		return Order{}, fmt.Errorf("decode order %s: %w", id, err)
	}
	return o, nil
}

// ConfirmPayment implements Store.
func (s *RedisStore) ConfirmPayment(ctx context.Context, id string) (Order, error) {
	o, err := s.Order(ctx, id)
	if err != nil {
		return Order{}, err
	}
	k := dropKeys(o.Drop)
	r, err := parseResult(scriptConfirm.Run(ctx, s.rdb, []string{k.orders(), k.pending(), k.sku(o.SKU), k.stream()}, id).Slice())
	if err != nil {
		return Order{}, unavailable("confirm payment", err)
	}
	return r.Order, nil
}

// Cancel implements Store.
func (s *RedisStore) Cancel(ctx context.Context, id, reason string) (Order, error) {
	return s.cancel(ctx, id, reason, false)
}

func (s *RedisStore) cancel(ctx context.Context, id, reason string, onlyIfDue bool) (Order, error) {
	o, err := s.Order(ctx, id)
	if err != nil {
		return Order{}, err
	}
	k := dropKeys(o.Drop)
	due := "0"
	if onlyIfDue {
		due = "1"
	}
	r, err := parseResult(scriptCancel.Run(ctx, s.rdb,
		[]string{k.orders(), k.pending(), k.sku(o.SKU), k.used(), k.stream()},
		id, reason, due).Slice())
	if err != nil {
		return Order{}, unavailable("cancel order", err)
	}
	return r.Order, nil
}

func (s *RedisStore) now(ctx context.Context) (int64, error) {
	t, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return 0, unavailable("redis time", err)
	}
	return t.UnixMilli(), nil
}

// ReapHolds implements Store.
func (s *RedisStore) ReapHolds(ctx context.Context, drop string) (int, error) {
	now, err := s.now(ctx)
	if err != nil {
		return 0, err
	}
	ids, err := s.rdb.ZRangeByScore(ctx, dropKeys(drop).pending(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now, 10), Count: 500}).Result()
	if err != nil {
		return 0, unavailable("list expired holds", err)
	}
	n := 0
	for _, id := range ids {
		o, err := s.cancel(ctx, id, "hold_expired", true)
		if err != nil {
			return n, err
		}
		if o.Status == StatusCancelled && o.Reason == "hold_expired" {
			n++
		}
	}
	return n, nil
}
