package checkout

import "github.com/redis/go-redis/v9"

// Every script touches the keys of one drop only (one hash tag), so it runs
// unchanged on Redis Cluster. Times come from Redis (TIME), never a client.

const luaNow = `
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function num(v)
  if not v then return 0 end
  return tonumber(v) or 0
end
`

// KEYS: meta, sku...; ARGV: stream, skus json, stock..., gate json, then
// pairs of further meta field and value (opening: redisstore_lottery.go)
var scriptCreate = redis.NewScript(luaNow + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
redis.call('HSET', KEYS[1], 'state', 'created', 'stream', ARGV[1], 'skus', ARGV[2], 'created_ms', string.format('%d', nowms()),
  'gate', ARGV[#KEYS + 2])
for i = #KEYS + 3, #ARGV - 1, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], 'stock', ARGV[i+1], 'free', ARGV[i+1], 'leased', 0, 'sold', 0,
    'orders', 0, 'revenue', 0, 'paid', 0, 'cancelled', 0)
end
return 'ok'
`)

// KEYS: meta; ARGV: new state
var scriptSetState = redis.NewScript(luaNow + `
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return 'notfound' end
local to = ARGV[1]
if cur == to then return 'ok' end
if (cur == 'created' and (to == 'open' or to == 'closed')) or (cur == 'open' and to == 'closed') or
  (cur == 'drawing' and to == 'closed') then
  redis.call('HSET', KEYS[1], 'state', to)
  if to == 'open' then redis.call('HSET', KEYS[1], 'opened_at', nowms()) end
  return 'ok'
end
return 'conflict:' .. cur
`)

// KEYS: meta, sku, leases, leaseexp, op; ARGV: lease field, want, threshold, ttl ms, op ttl s
var scriptGrant = redis.NewScript(luaNow + luaOpenFree + `
local prev = redis.call('GET', KEYS[5])
if prev then return cjson.decode(prev) end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'notfound', 0, 0, 0} end
local lease = num(redis.call('HGET', KEYS[3], ARGV[1]))
local free = openFree(KEYS[2])
local res
if state ~= 'open' then
  res = {'notopen', 0, lease, free}
else
  local n = math.min(tonumber(ARGV[2]), free - tonumber(ARGV[3]))
  if n <= 0 then
    res = {'direct', 0, lease, free}
  else
    redis.call('HINCRBY', KEYS[2], 'free', -n)
    redis.call('HINCRBY', KEYS[2], 'leased', n)
    lease = redis.call('HINCRBY', KEYS[3], ARGV[1], n)
    redis.call('ZADD', KEYS[4], nowms() + tonumber(ARGV[4]), ARGV[1])
    res = {'granted', n, lease, free - n}
  end
end
redis.call('SET', KEYS[5], cjson.encode(res), 'EX', ARGV[5])
return res
`)

// KEYS: sku, leases, leaseexp, op; ARGV: lease field, units, op ttl s
var scriptReturn = redis.NewScript(`
local prev = redis.call('GET', KEYS[4])
if prev then return tonumber(prev) end
local lease = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local n = math.min(tonumber(ARGV[2]), lease)
if n > 0 then
  redis.call('HINCRBY', KEYS[1], 'free', n)
  redis.call('HINCRBY', KEYS[1], 'leased', -n)
  lease = redis.call('HINCRBY', KEYS[2], ARGV[1], -n)
else
  n = 0
end
if lease <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
redis.call('SET', KEYS[4], n, 'EX', ARGV[3])
return n
`)

// KEYS: leases, leaseexp; ARGV: lease field, ttl ms
var scriptRenew = redis.NewScript(luaNow + `
local lease = redis.call('HGET', KEYS[1], ARGV[1])
if not lease then return -1 end
redis.call('ZADD', KEYS[2], nowms() + tonumber(ARGV[2]), ARGV[1])
return tonumber(lease)
`)

// KEYS: sku, leases, leaseexp; ARGV: lease field
var scriptReclaim = redis.NewScript(luaNow + `
local dl = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not dl then return 0 end
if tonumber(dl) > nowms() then return 0 end
local lease = num(redis.call('HGET', KEYS[2], ARGV[1]))
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if lease > 0 then
  redis.call('HINCRBY', KEYS[1], 'free', lease)
  redis.call('HINCRBY', KEYS[1], 'leased', -lease)
end
return lease
`)

// The sale scripts (ship, direct) share their KEYS and ARGV:
// KEYS: sku, leases, orders, pending, used, stream, meta, buyer's orders, allow, wanted, log
// ARGV: id, order json, lease field, qty, total cents, hold ms, edge, n, then
// n pairs of limit field (sku|limit key) and max.

const luaExisting = `
local ex = redis.call('HGET', KEYS[3], ARGV[1])
if ex then
  local o = cjson.decode(ex)
  if o.edge == ARGV[7] then return {'exists', ex} end
  return {'duplicate', ex}
end
`

const luaRecord = `
local function record(o, outcome)
  local enc = cjson.encode(o)
  redis.call('HSET', KEYS[3], ARGV[1], enc)
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', '1000000', '*', 'event', outcome, 'id', ARGV[1], 'order', enc)
  redis.call('ZADD', KEYS[8], nowms(), ARGV[1])
  redis.call('RPUSH', KEYS[11], ARGV[1])
  return {outcome, enc}
end
local function limits()
  local out = {}
  for i = 1, tonumber(ARGV[8]) do out[i] = {ARGV[7 + 2 * i], tonumber(ARGV[8 + 2 * i])} end
  return out
end
-- overLimit names the first limit qty more units would break.
local function overLimit(lims, qty)
  for _, l in ipairs(lims) do
    if l[2] > 0 and num(redis.call('HGET', KEYS[5], l[1])) + qty > l[2] then return l[1] end
  end
  return nil
end
local function sell(o, qty, lims)
  redis.call('HINCRBY', KEYS[1], 'sold', qty)
  redis.call('HINCRBY', KEYS[1], 'orders', 1)
  redis.call('HINCRBY', KEYS[1], 'revenue', ARGV[5])
  for _, l in ipairs(lims) do redis.call('HINCRBY', KEYS[5], l[1], qty) end
  redis.call('ZADD', KEYS[4], nowms() + tonumber(ARGV[6]), ARGV[1])
  return record(o, 'created')
end
`

// Ship records an order sold from the edge's lease. The lease pays for it; a
// lease reclaimed meanwhile is replaced by free stock, and when there is none
// the order is recorded cancelled (lease_expired): never oversold. Its limits
// are checked again against the units used: never over a limit in total
// (the edge sold it under an allowance, so this refuses only after one
// expired; see docs/architecture.md).
var scriptShip = redis.NewScript(luaNow + luaOpenFree + luaRecord + luaExisting + `
local qty = tonumber(ARGV[4])
local o = cjson.decode(ARGV[2])
local lims = limits()
local lease = num(redis.call('HGET', KEYS[2], ARGV[3]))
local src = nil
if lease >= qty then
  src = 'lease'
elseif openFree(KEYS[1]) >= qty then
  src = 'free'
end
local reason = nil
if not src then
  reason = 'lease_expired'
elseif overLimit(lims, qty) then
  reason = 'limit'
end
if src == 'lease' then
  redis.call('HINCRBY', KEYS[2], ARGV[3], -qty)
  redis.call('HINCRBY', KEYS[1], 'leased', -qty)
elseif src == 'free' then
  redis.call('HINCRBY', KEYS[1], 'free', -qty)
end
if reason then
  if src then redis.call('HINCRBY', KEYS[1], 'free', qty) end
  o.status = 'cancelled'
  o.reason = reason
  redis.call('HINCRBY', KEYS[1], 'cancelled', 1)
  return record(o, 'cancelled')
end
return sell(o, qty, lims)
`)

// luaAdmitDirect admits a sale straight from the store (scriptDirect,
// scriptRSVPSale): the drop must be open, the order within its limits, and
// no other edge may hold an unexpired allowance of its subjects (that one
// is marked wanted). It defines qty, lims and now for the rest.
const luaAdmitDirect = `
if redis.call('HGET', KEYS[7], 'state') ~= 'open' then return {'notopen', ''} end
local qty = tonumber(ARGV[4])
local lims = limits()
local over = overLimit(lims, qty)
if over then return {'limit', over} end
local now = nowms()
local held = nil
for _, l in ipairs(lims) do
  local v = redis.call('HGET', KEYS[9], l[1])
  if v then
    local h, x = string.match(v, '^(%S+) (%d+)$')
    if h ~= ARGV[7] and tonumber(x) > now then
      redis.call('ZADD', KEYS[10], 0, h .. '|' .. l[1])
      held = held or l[1]
    end
  end
end
if held then return {'limitheld', held} end
`

// Direct sells from free stock; 'held' when none is free but edges hold
// leases. A subject whose allowance another edge holds (unexpired) gets
// 'limitheld' and the allowance is marked wanted from that edge.
var scriptDirect = redis.NewScript(luaNow + luaOpenFree + luaRecord + luaExisting + luaAdmitDirect + `
local free = openFree(KEYS[1])
if free < qty then
  if num(redis.call('HGET', KEYS[1], 'leased')) > 0 then return {'held', ''} end
  return {'soldout', ''}
end
redis.call('HINCRBY', KEYS[1], 'free', -qty)
return sell(cjson.decode(ARGV[2]), qty, lims)
`)

// KEYS: orders, pending, sku, stream; ARGV: id
var scriptConfirm = redis.NewScript(`
local ex = redis.call('HGET', KEYS[1], ARGV[1])
if not ex then return {'notfound', ''} end
local o = cjson.decode(ex)
if o.status ~= 'pending' then return {o.status, ex} end
o.status = 'paid'
local enc = cjson.encode(o)
redis.call('HSET', KEYS[1], ARGV[1], enc)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'paid', 1)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', '1000000', '*', 'event', 'paid', 'id', ARGV[1], 'order', enc)
return {'paid', enc}
`)

// KEYS: orders, pending, sku, used, stream; ARGV: id, reason, only if due (0/1)
var scriptCancel = redis.NewScript(luaNow + `
local ex = redis.call('HGET', KEYS[1], ARGV[1])
if not ex then return {'notfound', ''} end
local o = cjson.decode(ex)
if o.status ~= 'pending' then return {o.status, ex} end
if ARGV[3] == '1' then
  local dl = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if dl and tonumber(dl) > nowms() then return {'notdue', ex} end
end
o.status = 'cancelled'
o.reason = ARGV[2]
local qty = tonumber(o.qty)
redis.call('HINCRBY', KEYS[3], 'sold', -qty)
redis.call('HINCRBY', KEYS[3], 'orders', -1)
redis.call('HINCRBY', KEYS[3], 'revenue', -tonumber(o.total_cents))
redis.call('HINCRBY', KEYS[3], 'free', qty)
redis.call('HINCRBY', KEYS[3], 'cancelled', 1)
if type(o.limits) == 'table' then
  for _, k in ipairs(o.limits) do redis.call('HINCRBY', KEYS[4], o.sku .. '|' .. k, -qty) end
end
redis.call('ZREM', KEYS[2], ARGV[1])
local enc = cjson.encode(o)
redis.call('HSET', KEYS[1], ARGV[1], enc)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', '1000000', '*', 'event', 'cancelled', 'id', ARGV[1], 'order', enc)
return {'cancelled', enc}
`)

// Allow leases allowances (see AllowOp): per field, the holder and its
// expiry are "edge expiry-ms" in the allow hash. A field nobody holds, held
// by the asking edge, or whose holder expired goes to the asking edge with
// the rest of its limit. At the limit it is answered 0 whoever holds it (the
// holder's uncounted sales could only add to it) and nobody holds it. Held
// by another edge: -1, and with want the field is marked wanted from it.
// KEYS: used, allow, wanted; ARGV: edge, ttl ms, want (0/1), n, then n pairs
// of field and max.
var scriptAllow = redis.NewScript(luaNow + `
local edge = ARGV[1]
local now = nowms()
local exp = now + tonumber(ARGV[2])
local out = {}
for i = 1, tonumber(ARGV[4]) do
  local f, max = ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])
  local v = redis.call('HGET', KEYS[2], f)
  local h, x = nil, 0
  if v then
    h, x = string.match(v, '^(%S+) (%d+)$')
    x = tonumber(x)
  end
  local left = max - num(redis.call('HGET', KEYS[1], f))
  if left <= 0 then
    -- At the limit whoever holds it: nothing to hold.
    if h and (h == edge or x <= now) then redis.call('HDEL', KEYS[2], f) end
    out[i] = 0
  elseif h and h ~= edge and x > now then
    if ARGV[3] == '1' then redis.call('ZADD', KEYS[3], 0, h .. '|' .. f) end
    out[i] = -1
  else
    if h and h ~= edge then redis.call('ZREM', KEYS[3], h .. '|' .. f) end
    redis.call('HSET', KEYS[2], f, edge .. ' ' .. exp)
    out[i] = left
  end
end
return out
`)

// Release hands allowances back: a field the edge holds is freed, and it is
// no longer wanted from the edge. KEYS: allow, wanted; ARGV: edge, fields...
var scriptRelease = redis.NewScript(`
local edge = ARGV[1]
local n = 0
for i = 2, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v and string.match(v, '^(%S+) ') == edge then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
  redis.call('ZREM', KEYS[2], edge .. '|' .. ARGV[i])
end
return n
`)
