package checkout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis store's RSVP batches: one script per operation, each on the
// keys of one drop (its hash tag). A SKU's hash counts its "reserved"
// units; the drop's rsvp hash holds each batch as "sku left deadline-ms
// units" (batches reserved before units were kept lack the last field),
// its rsvpexp sorted set the batches by deadline (for the reaper), and its
// rsvpused hash the order that used each token, or "!cancelled".

func (k keys) rsvps() string    { return k.tag + ":rsvp" }
func (k keys) rsvpExp() string  { return k.tag + ":rsvpexp" }
func (k keys) rsvpUsed() string { return k.tag + ":rsvpused" }

// KEYS: meta, sku, rsvp, rsvpexp; ARGV: batch, sku, units, deadline ms
var scriptReserve = redis.NewScript(luaNow + luaOpenFree + `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'notfound', 0} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {'nosku', 0} end
if state == 'closed' then return {'closed', 0} end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return {'exists', 0} end
if tonumber(ARGV[4]) <= nowms() then return {'past', 0} end
local free = openFree(KEYS[2])
local n = tonumber(ARGV[3])
if free < n then return {'notenough', free} end
redis.call('HINCRBY', KEYS[2], 'free', -n)
redis.call('HINCRBY', KEYS[2], 'reserved', n)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ' ' .. n .. ' ' .. ARGV[4] .. ' ' .. n)
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
return {'ok', free - n}
`)

// RSVPSale sells one reserved unit to a token's holder: the sale scripts'
// KEYS and ARGV (see scriptShip), then KEYS (12, 13) rsvp, rsvpused and ARGV batch,
// token id. The order id is looked up first (a retry gets its order), then
// the drop's state and the limits as for a direct sale, then the token.
var scriptRSVPSale = redis.NewScript(luaNow + luaRecord + luaExisting + luaAdmitDirect + `
local n = tonumber(ARGV[8])
local batch, tok = ARGV[9 + 2 * n], ARGV[10 + 2 * n]
local by = redis.call('HGET', KEYS[13], tok)
if by == '!cancelled' then return {'rsvpcancelled', ''} end
if by then return {'rsvpused', ''} end
local v = redis.call('HGET', KEYS[12], batch)
if not v then return {'rsvpexpired', ''} end
local sku, left, dl, units = string.match(v, '^(%S+) (%d+) (%d+)(.*)$')
local o = cjson.decode(ARGV[2])
left = tonumber(left)
if sku ~= o.sku or left < qty or tonumber(dl) <= now then return {'rsvpexpired', ''} end
redis.call('HSET', KEYS[12], batch, sku .. ' ' .. (left - qty) .. ' ' .. dl .. units)
redis.call('HSET', KEYS[13], tok, ARGV[1])
redis.call('HINCRBY', KEYS[1], 'reserved', -qty)
return sell(o, qty, lims)
`)

// KEYS: sku, rsvp, rsvpexp; ARGV: batch, sku
var scriptRSVPReturn = redis.NewScript(luaNow + `
local dl = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not dl then return 0 end
if tonumber(dl) > nowms() then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return 0 end
local sku, left, d, units = string.match(v, '^(%S+) (%d+) (%d+)(.*)$')
left = tonumber(left)
if sku ~= ARGV[2] or left <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'free', left)
redis.call('HINCRBY', KEYS[1], 'reserved', -left)
redis.call('HSET', KEYS[2], ARGV[1], sku .. ' 0 ' .. d .. units)
return left
`)

// KEYS: meta, rsvp, rsvpused, the batch's SKU hash; ARGV: batch, token
// id, seq, the batch's SKU (read before: the script checks it)
var scriptRSVPCancel = redis.NewScript(luaNow + `
if not redis.call('HGET', KEYS[1], 'state') then return 'nodrop' end
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return 'notfound' end
local sku, left, dl, rest = string.match(v, '^(%S+) (%d+) (%d+)(.*)$')
if sku ~= ARGV[4] then return 'notfound' end
local units = tonumber(string.match(rest, '^ (%d+)$') or '0')
local seq = tonumber(ARGV[3])
if units > 0 and seq > units then return 'notfound' end
local by = redis.call('HGET', KEYS[3], ARGV[2])
if by == '!cancelled' then return 'already' end
if by then return 'used ' .. by end
left = tonumber(left)
if left <= 0 or tonumber(dl) <= nowms() then return 'expired' end
redis.call('HSET', KEYS[2], ARGV[1], sku .. ' ' .. (left - 1) .. ' ' .. dl .. rest)
redis.call('HSET', KEYS[3], ARGV[2], '!cancelled')
redis.call('HINCRBY', KEYS[4], 'free', 1)
redis.call('HINCRBY', KEYS[4], 'reserved', -1)
return 'ok'
`)

// Reserve implements RSVPStore.
func (s *RedisStore) Reserve(ctx context.Context, op ReserveOp) error {
	if err := op.Validate(); err != nil {
		return err
	}
	k := dropKeys(op.Drop)
	vals, err := scriptReserve.Run(ctx, s.rdb, []string{k.meta(), k.sku(op.SKU), k.rsvps(), k.rsvpExp()},
		op.Batch, op.SKU, op.Units, op.Deadline.UnixMilli()).Slice()
	if err != nil {
		return unavailable("reserve rsvp units", err)
	}
	if len(vals) != 2 {
		return fmt.Errorf("reserve rsvp units: unexpected reply %v", vals)
	}
	switch fmt.Sprint(vals[0]) {
	case "ok":
		return nil
	case "notfound":
		return fmt.Errorf("drop %s: %w", op.Drop, ErrNotFound)
	case "nosku":
		return fmt.Errorf("sku %s of drop %s: %w", op.SKU, op.Drop, ErrNotFound)
	case "closed":
		return fmt.Errorf("drop %s is closed: %w", op.Drop, ErrConflict)
	case "exists":
		return fmt.Errorf("rsvp batch %s exists: %w", op.Batch, ErrConflict)
	case "past":
		return fmt.Errorf("%w: deadline must be in the future", ErrInvalid)
	case "notenough":
		return fmt.Errorf("%w: %d of %s are free, %d asked", ErrNotEnoughFree, toInt(vals[1]), op.SKU, op.Units)
	}
	return fmt.Errorf("reserve rsvp units: unexpected reply %v", vals)
}

// SellRSVP implements RSVPStore.
func (s *RedisStore) SellRSVP(ctx context.Context, it ShipItem, r RSVP) (ShipResult, error) {
	if it.Order.Qty != 1 {
		return ShipResult{}, fmt.Errorf("%w: an RSVP holds one unit: qty must be 1", ErrInvalid)
	}
	it.Order.RSVP = r.ID()
	k, ks, args, err := shipArgs(it)
	if err != nil {
		return ShipResult{}, err
	}
	ks = append(ks, k.rsvps(), k.rsvpUsed())
	args = append(args, r.Batch, r.ID())
	// The buyer's drops first, as for every sale (BuyerOrders).
	if err := s.rdb.SAdd(ctx, buyerDropsKey(it.Order.Buyer), it.Order.Drop).Err(); err != nil {
		return ShipResult{}, unavailable("rsvp sale", err)
	}
	vals, err := scriptRSVPSale.Run(ctx, s.rdb, ks, args...).Slice()
	if err != nil {
		return ShipResult{}, unavailable("rsvp sale", err)
	}
	res, err := parseResult(vals, nil)
	if err != nil {
		return ShipResult{}, fmt.Errorf("rsvp sale: %w", err)
	}
	return res, nil
}

// ReapRSVPs implements RSVPStore.
func (s *RedisStore) ReapRSVPs(ctx context.Context, drop string) (int, error) {
	now, err := s.now(ctx)
	if err != nil {
		return 0, err
	}
	k := dropKeys(drop)
	batches, err := s.rdb.ZRangeByScore(ctx, k.rsvpExp(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now, 10), Count: 500}).Result()
	if err != nil {
		return 0, unavailable("list expired rsvp batches", err)
	}
	total := 0
	for _, b := range batches {
		v, err := s.rdb.HGet(ctx, k.rsvps(), b).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return total, unavailable("read rsvp batch", err)
		}
		sku, _, _ := strings.Cut(v, " ")
		if !ValidID(sku) {
			// No such batch (or not ours): take it off the deadlines.
			if err := s.rdb.ZRem(ctx, k.rsvpExp(), b).Err(); err != nil {
				return total, unavailable("drop an unknown rsvp batch", err)
			}
			continue
		}
		n, err := scriptRSVPReturn.Run(ctx, s.rdb, []string{k.sku(sku), k.rsvps(), k.rsvpExp()}, b, sku).Int()
		if err != nil {
			return total, unavailable("return rsvp units", err)
		}
		total += n
	}
	return total, nil
}

// RSVPBatches implements RSVPStore.
func (s *RedisStore) RSVPBatches(ctx context.Context, drop string) ([]RSVPBatchState, error) {
	k := dropKeys(drop)
	n, err := s.rdb.Exists(ctx, k.meta()).Result()
	if err != nil {
		return nil, unavailable("read drop", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	}
	raw, err := s.rdb.HGetAll(ctx, k.rsvps()).Result()
	if err != nil {
		return nil, unavailable("read rsvp batches", err)
	}
	used, err := s.rdb.HGetAll(ctx, k.rsvpUsed()).Result()
	if err != nil {
		return nil, unavailable("read used rsvps", err)
	}
	out := make([]RSVPBatchState, 0, len(raw))
	byID := map[string]int{}
	for id, v := range raw {
		f := strings.Fields(v)
		if len(f) < 3 {
			continue
		}
		left, _ := strconv.Atoi(f[1])
		dl, _ := strconv.ParseInt(f[2], 10, 64)
		units := 0
		if len(f) > 3 {
			units, _ = strconv.Atoi(f[3])
		}
		byID[id] = len(out)
		out = append(out, RSVPBatchState{Batch: id, SKU: f[0], Units: units, Left: left,
			Deadline: time.UnixMilli(dl).UTC(), Used: map[int]string{}, Cancelled: map[int]bool{}})
	}
	return withTokens(out, byID, used), nil
}

// CancelRSVP implements RSVPStore.
func (s *RedisStore) CancelRSVP(ctx context.Context, drop, batch string, seq int) (bool, error) {
	if !ValidID(drop) || !ValidID(batch) || seq < 1 {
		return false, fmt.Errorf("%w: malformed rsvp", ErrInvalid)
	}
	k := dropKeys(drop)
	id := batch + "-" + strconv.Itoa(seq)
	v, err := s.rdb.HGet(ctx, k.rsvps(), batch).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, unavailable("read rsvp batch", err)
	}
	sku, _, _ := strings.Cut(v, " ")
	if !ValidID(sku) {
		sku = "-" // no such batch: the script says which is missing
	}
	res, err := scriptRSVPCancel.Run(ctx, s.rdb, []string{k.meta(), k.rsvps(), k.rsvpUsed(), k.sku(sku)},
		batch, id, seq, sku).Text()
	if err != nil {
		return false, unavailable("cancel rsvp", err)
	}
	switch {
	case res == "ok":
		return true, nil
	case res == "already":
		return false, nil
	case res == "nodrop":
		return false, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	case res == "notfound":
		return false, fmt.Errorf("rsvp %s of drop %s: %w", id, drop, ErrNotFound)
	case res == "expired":
		return false, ErrRSVPExpired
	case strings.HasPrefix(res, "used "):
		return false, fmt.Errorf("%w by order %s", ErrRSVPUsed, strings.TrimPrefix(res, "used "))
	}
	return false, fmt.Errorf("cancel rsvp: unexpected reply %q", res)
}
