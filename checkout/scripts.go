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

// KEYS: meta, sku...; ARGV: stream, skus json, stock..., gate json
var scriptCreate = redis.NewScript(luaNow + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
redis.call('HSET', KEYS[1], 'state', 'created', 'stream', ARGV[1], 'skus', ARGV[2], 'created_ms', string.format('%d', nowms()),
  'gate', ARGV[#KEYS + 2])
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], 'stock', ARGV[i+1], 'free', ARGV[i+1], 'leased', 0, 'sold', 0,
    'orders', 0, 'revenue', 0, 'paid', 0, 'cancelled', 0)
end
return 'ok'
`)

// KEYS: meta; ARGV: new state
var scriptSetState = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return 'notfound' end
local to = ARGV[1]
if cur == to then return 'ok' end
if (cur == 'created' and (to == 'open' or to == 'closed')) or (cur == 'open' and to == 'closed') then
  redis.call('HSET', KEYS[1], 'state', to)
  return 'ok'
end
return 'conflict:' .. cur
`)

// KEYS: meta, sku, leases, leaseexp, op; ARGV: lease field, want, threshold, ttl ms, op ttl s
var scriptGrant = redis.NewScript(luaNow + `
local prev = redis.call('GET', KEYS[5])
if prev then return cjson.decode(prev) end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'notfound', 0, 0, 0} end
local lease = num(redis.call('HGET', KEYS[3], ARGV[1]))
local free = num(redis.call('HGET', KEYS[2], 'free'))
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

const luaExisting = `
local ex = redis.call('HGET', KEYS[3], ARGV[1])
if ex then
  local o = cjson.decode(ex)
  if o.edge == ARGV[9] then return {'exists', ex} end
  return {'duplicate', ex}
end
`

const luaRecord = `
local function record(o, outcome)
  local enc = cjson.encode(o)
  redis.call('HSET', KEYS[3], ARGV[1], enc)
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', '1000000', '*', 'event', outcome, 'id', ARGV[1], 'order', enc)
  return {outcome, enc}
end
local function sell(o, qty)
  redis.call('HINCRBY', KEYS[1], 'sold', qty)
  redis.call('HINCRBY', KEYS[1], 'orders', 1)
  redis.call('HINCRBY', KEYS[1], 'revenue', ARGV[6])
  redis.call('HINCRBY', KEYS[5], ARGV[4], qty)
  redis.call('ZADD', KEYS[4], nowms() + tonumber(ARGV[8]), ARGV[1])
  return record(o, 'created')
end
`

// Ship records an order sold from the edge's lease. The lease pays for it; a
// lease reclaimed meanwhile is replaced by free stock, and when there is none
// the order is recorded cancelled (lease_expired): never oversold.
// KEYS: sku, leases, orders, pending, buyers, stream, meta
// ARGV: id, order json, lease field, buyer field, qty, total cents, max per buyer, hold ms, edge
var scriptShip = redis.NewScript(luaNow + luaRecord + luaExisting + `
local qty = tonumber(ARGV[5])
local o = cjson.decode(ARGV[2])
local lease = num(redis.call('HGET', KEYS[2], ARGV[3]))
local src = nil
if lease >= qty then
  src = 'lease'
elseif num(redis.call('HGET', KEYS[1], 'free')) >= qty then
  src = 'free'
end
local max = tonumber(ARGV[7])
local bought = num(redis.call('HGET', KEYS[5], ARGV[4]))
local reason = nil
if not src then
  reason = 'lease_expired'
elseif max > 0 and bought + qty > max then
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
return sell(o, qty)
`)

// Direct sells from free stock; 'held' when none is free but edges hold leases.
// Same KEYS and ARGV as scriptShip.
var scriptDirect = redis.NewScript(luaNow + luaRecord + luaExisting + `
if redis.call('HGET', KEYS[7], 'state') ~= 'open' then return {'notopen', ''} end
local qty = tonumber(ARGV[5])
local max = tonumber(ARGV[7])
if max > 0 and num(redis.call('HGET', KEYS[5], ARGV[4])) + qty > max then return {'limit', ''} end
local free = num(redis.call('HGET', KEYS[1], 'free'))
if free < qty then
  if num(redis.call('HGET', KEYS[1], 'leased')) > 0 then return {'held', ''} end
  return {'soldout', ''}
end
redis.call('HINCRBY', KEYS[1], 'free', -qty)
return sell(cjson.decode(ARGV[2]), qty)
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

// KEYS: orders, pending, sku, buyers, stream; ARGV: id, reason, only if due (0/1), buyer field
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
redis.call('HINCRBY', KEYS[4], ARGV[4], -qty)
redis.call('ZREM', KEYS[2], ARGV[1])
local enc = cjson.encode(o)
redis.call('HSET', KEYS[1], ARGV[1], enc)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', '1000000', '*', 'event', 'cancelled', 'id', ARGV[1], 'order', enc)
return {'cancelled', enc}
`)
