package checkout

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// The Redis store's seller-side order calls: a drop's orders newest first
// (from its log list) and refunds (RefundOp), each one script.

// KEYS: log, orders; ARGV: before, limit. Returns the log's length and the
// encoded orders, newest first.
var scriptDropOrders = redis.NewScript(`
local n = redis.call('LLEN', KEYS[1])
local before = tonumber(ARGV[1])
if before <= 0 or before > n then before = n end
local out = {}
if before == 0 then return {n, out} end
local from = math.max(0, before - tonumber(ARGV[2]))
local ids = redis.call('LRANGE', KEYS[1], from, before - 1)
for i = #ids, 1, -1 do out[#out + 1] = redis.call('HGET', KEYS[2], ids[i]) or '' end
return {n, out}
`)

// Refund takes an order back for the seller (RefundOp): pending becomes
// cancelled, paid becomes refunded; its units leave sold and its limits, and
// go to free stock (restock) or out of the stock. An order not in the
// status the caller saw is answered unchanged.
// KEYS: orders, pending, sku, used, stream; ARGV: id, from, restock (0/1)
var scriptRefund = redis.NewScript(`
local ex = redis.call('HGET', KEYS[1], ARGV[1])
if not ex then return {'notfound', ''} end
local o = cjson.decode(ex)
if o.status ~= ARGV[2] then return {'unchanged', ex} end
if o.status == 'pending' then
  o.status = 'cancelled'
  o.reason = 'seller_cancelled'
  redis.call('HINCRBY', KEYS[3], 'cancelled', 1)
  redis.call('ZREM', KEYS[2], ARGV[1])
elseif o.status == 'paid' then
  o.status = 'refunded'
  o.reason = 'seller_refunded'
  redis.call('HINCRBY', KEYS[3], 'paid', -1)
  redis.call('HINCRBY', KEYS[3], 'refunded', 1)
else
  return {'unchanged', ex}
end
local qty = tonumber(o.qty)
redis.call('HINCRBY', KEYS[3], 'sold', -qty)
redis.call('HINCRBY', KEYS[3], 'orders', -1)
redis.call('HINCRBY', KEYS[3], 'revenue', -tonumber(o.total_cents))
if ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[3], 'free', qty)
else
  redis.call('HINCRBY', KEYS[3], 'stock', -qty)
end
if type(o.limits) == 'table' then
  for _, k in ipairs(o.limits) do redis.call('HINCRBY', KEYS[4], o.sku .. '|' .. k, -qty) end
end
local enc = cjson.encode(o)
redis.call('HSET', KEYS[1], ARGV[1], enc)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', '1000000', '*', 'event', o.status, 'id', ARGV[1], 'order', enc)
return {o.status, enc}
`)

// DropOrders implements Store.
func (s *RedisStore) DropOrders(ctx context.Context, drop string, before, limit int) ([]Order, int, error) {
	k := dropKeys(drop)
	vals, err := scriptDropOrders.Run(ctx, s.rdb, []string{k.log(), k.orders()}, before, max(limit, 1)).Slice()
	if err != nil {
		return nil, 0, unavailable("read the drop's orders", err)
	}
	if len(vals) != 2 {
		return nil, 0, fmt.Errorf("read the drop's orders: unexpected reply %v", vals)
	}
	total := toInt(vals[0])
	if total == 0 {
		if ex, err := s.rdb.Exists(ctx, k.meta()).Result(); err != nil {
			return nil, 0, unavailable("read drop", err)
		} else if ex == 0 {
			return nil, 0, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
		}
	}
	encs, _ := vals[1].([]any)
	out := make([]Order, 0, len(encs))
	for _, e := range encs {
		str, _ := e.(string)
		if str == "" {
			continue // listed but not stored (never: orders are not deleted)
		}
		var o Order
		if err := json.Unmarshal([]byte(str), &o); err != nil {
			return nil, 0, fmt.Errorf("decode order of drop %s: %w", drop, err)
		}
		out = append(out, o)
	}
	return out, total, nil
}

// Refund implements Store.
func (s *RedisStore) Refund(ctx context.Context, op RefundOp) (Order, bool, error) {
	o, err := s.Order(ctx, op.ID)
	if err != nil {
		return Order{}, false, err
	}
	k := dropKeys(o.Drop)
	restock := "0"
	if op.Restock {
		restock = "1"
	}
	r, err := parseResult(scriptRefund.Run(ctx, s.rdb,
		[]string{k.orders(), k.pending(), k.sku(o.SKU), k.used(), k.stream()}, op.ID, op.From, restock).Slice())
	if err != nil {
		return Order{}, false, unavailable("refund order", err)
	}
	if r.Outcome == "notfound" {
		return Order{}, false, fmt.Errorf("order %s: %w", op.ID, ErrNotFound)
	}
	return r.Order, r.Outcome != "unchanged", nil
}
