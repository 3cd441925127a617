package checkout

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// A lottery's waitlist on Redis: a sorted set of the waiting entry ids by
// place, and each SKU hash's "waitlist" field, the units they wait for
// (the sale scripts sell only free units beyond it: luaOpenFree). An
// offered entry's result reads "won ORDER PLACE".

func (k keys) waitlist() string { return k.tag + ":waitlist" }

// KEYS: meta, waitlist, then the drop's SKU hashes; ARGV: their waiting
// units, in the same order.
var scriptWaitSet = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if st ~= 'drawing' then return 'conflict:' .. (st or 'missing') end
redis.call('DEL', KEYS[2])
for i = 3, #KEYS do redis.call('HSET', KEYS[i], 'waitlist', ARGV[i - 2]) end
return 'ok'
`)

// Offer sells a free unit to a waiting entry (OfferWaitlist): the sale
// scripts' KEYS and ARGV (shipArgs), then KEYS (12, 13) waitlist, results.
var scriptWaitOffer = redis.NewScript(luaNow + luaRecord + `
local place = redis.call('ZSCORE', KEYS[12], ARGV[1])
if not place then return {'notwaiting', ''} end
place = string.format('%d', tonumber(place))
local qty = tonumber(ARGV[4])
local function off(result)
  redis.call('ZREM', KEYS[12], ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'waitlist', -qty)
  redis.call('HSET', KEYS[13], ARGV[1], result)
end
local ex = redis.call('HGET', KEYS[3], ARGV[1])
if ex then
  off('won ' .. ARGV[1] .. ' ' .. place)
  if cjson.decode(ex).edge == ARGV[7] then return {'exists', ex} end
  return {'duplicate', ex}
end
if redis.call('HGET', KEYS[7], 'state') ~= 'open' then return {'notopen', ''} end
local lims = limits()
local over = overLimit(lims, qty)
if over then
  off('limit')
  return {'limit', over}
end
local now = nowms()
for _, l in ipairs(lims) do
  local v = redis.call('HGET', KEYS[9], l[1])
  if v then
    local h, x = string.match(v, '^(%S+) (%d+)$')
    if h ~= ARGV[7] and tonumber(x) > now then
      redis.call('ZADD', KEYS[10], 0, h .. '|' .. l[1])
      return {'limitheld', l[1]}
    end
  end
end
if num(redis.call('HGET', KEYS[1], 'free')) < qty then return {'soldout', ''} end
redis.call('HINCRBY', KEYS[1], 'free', -qty)
off('won ' .. ARGV[1] .. ' ' .. place)
return sell(cjson.decode(ARGV[2]), qty, lims)
`)

// SetWaitlist implements WaitlistStore.
func (s *RedisStore) SetWaitlist(ctx context.Context, drop string, lost []Entry) error {
	d, err := s.Drop(ctx, drop)
	if err != nil {
		return err
	}
	k := dropKeys(drop)
	units := map[string]int{}
	for _, e := range lost {
		units[e.SKU] += e.Qty
	}
	ks := []string{k.meta(), k.waitlist()}
	args := make([]any, 0, len(d.SKUs))
	for _, sk := range d.SKUs {
		ks = append(ks, k.sku(sk.SKU))
		args = append(args, units[sk.SKU])
	}
	res, err := scriptWaitSet.Run(ctx, s.rdb, ks, args...).Text()
	if err != nil {
		return unavailable("file the waitlist", err)
	}
	if res != "ok" {
		return fmt.Errorf("drop %s is %s, cannot file its waitlist: %w", drop, res[len("conflict:"):], ErrConflict)
	}
	for len(lost) > 0 {
		n := min(len(lost), resultsPerOp)
		zs := make([]redis.Z, n)
		for i, e := range lost[:n] {
			zs[i] = redis.Z{Score: float64(e.Place), Member: e.ID}
		}
		if err := s.rdb.ZAdd(ctx, k.waitlist(), zs...).Err(); err != nil {
			return unavailable("file the waitlist", err)
		}
		lost = lost[n:]
	}
	return nil
}

// Waiting implements WaitlistStore.
func (s *RedisStore) Waiting(ctx context.Context, drop string, from, n int) ([]Entry, error) {
	if n <= 0 {
		return nil, nil
	}
	k := dropKeys(drop)
	zs, err := s.rdb.ZRangeWithScores(ctx, k.waitlist(), int64(max(0, from)), int64(max(0, from)+n-1)).Result()
	if err != nil {
		return nil, unavailable("read the waitlist", err)
	}
	if len(zs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(zs))
	for i, z := range zs {
		ids[i] = fmt.Sprint(z.Member)
	}
	encs, err := s.rdb.HMGet(ctx, k.entries(), ids...).Result()
	if err != nil {
		return nil, unavailable("read waiting entries", err)
	}
	out := make([]Entry, 0, len(ids))
	for i, v := range encs {
		enc, ok := v.(string)
		if !ok {
			continue
		}
		e, err := decodeEntry(enc, EntryLost+" "+strconv.Itoa(int(zs[i].Score)))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// OfferWaitlist implements WaitlistStore.
func (s *RedisStore) OfferWaitlist(ctx context.Context, it ShipItem) (ShipResult, error) {
	k, ks, args, err := shipArgs(it)
	if err != nil {
		return ShipResult{}, err
	}
	if err := s.rdb.SAdd(ctx, buyerDropsKey(it.Order.Buyer), it.Order.Drop).Err(); err != nil {
		return ShipResult{}, unavailable("offer a waitlisted unit", err)
	}
	ks = append(ks, k.waitlist(), k.results())
	vals, err := scriptWaitOffer.Run(ctx, s.rdb, ks, args...).Slice()
	if err != nil {
		return ShipResult{}, unavailable("offer a waitlisted unit", err)
	}
	r, err := parseResult(vals, nil)
	if err != nil {
		return ShipResult{}, fmt.Errorf("offer order %s: %w", it.Order.ID, err)
	}
	return r, nil
}
