package auction

import "github.com/redis/go-redis/v9"

// Every script touches one lot's keys only (the hash tag {lot:ID}), so it
// runs unchanged on Redis Cluster; times come from Redis (TIME). Numbers
// leave the scripts as strings (%d), so no float formatting is involved.

const luaHead = `
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function d(v) return string.format('%d', v) end
local function state(m)
  return {phase = m[1], ends = tonumber(m[2]) or 0, price = tonumber(m[3]) or 0, leader = m[4] or '',
    lmax = tonumber(m[5]) or 0, bids = tonumber(m[6]) or 0, seq = tonumber(m[7]) or 0}
end
local function load(key)
  local m = redis.call('HMGET', key, 'phase', 'ends', 'price', 'leader', 'lmax', 'bids', 'seq')
  if not m[1] then return nil end
  return state(m)
end
local function enc(id, s)
  return cjson.encode({lot = id, phase = s.phase, ends_ms = d(s.ends), price_cents = d(s.price), leader = s.leader,
    bids = d(s.bids), seq = d(s.seq)})
end
local function save(key, s)
  redis.call('HSET', key, 'phase', s.phase, 'ends', d(s.ends), 'price', d(s.price), 'leader', s.leader,
    'lmax', d(s.lmax), 'bids', d(s.bids), 'seq', d(s.seq))
end
`

// KEYS: meta, bids, bidders, answer; ARGV: lot id, buyer, amount, max,
// answer ttl s, channel, keyed (1/0). Resolve (resolve.go), in Lua.
var scriptBid = redis.NewScript(luaHead + `
if ARGV[7] == '1' then
  local prev = redis.call('GET', KEYS[4])
  if prev then return {'replay', prev} end
end
local s = load(KEYS[1])
if not s then return {'notfound', ''} end
local r = redis.call('HMGET', KEYS[1], 'start', 'reserve', 'extend', 'sudden', 'incr')
local start, reserve, extend, sudden = tonumber(r[1]), tonumber(r[2]), tonumber(r[3]), r[4] == '1'
local incr = cjson.decode(r[5])
local function step(p)
  local st = incr[1].step_cents
  for i = 2, #incr do
    if p < incr[i].from_cents then break end
    st = incr[i].step_cents
  end
  return st
end
local now = nowms()
local buyer, floor, top = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if top == 0 then top = floor end
local before_ends, before_price = s.ends, s.price
local res
if s.phase == 'created' then res = 'not_started'
elseif s.phase ~= 'live' or now >= s.ends then res = 'auction_over'
else
  local least = start
  if s.leader ~= '' then least = s.price + step(s.price) end
  if s.leader == buyer then
    if top <= s.lmax then res = 'too_low' else s.lmax = top; res = 'accepted' end
  elseif top < least then res = 'too_low'
  elseif s.leader == '' then
    s.leader, s.lmax, s.price = buyer, top, math.max(start, floor); res = 'accepted'
  elseif top > s.lmax then
    s.price = math.max(least, floor, math.min(top, s.lmax + step(s.lmax)))
    s.leader, s.lmax = buyer, top; res = 'accepted'
  else
    s.price = math.max(s.price, top, math.min(s.lmax, top + step(top))); res = 'outbid'
  end
end
local first = 0
if res == 'accepted' or res == 'outbid' then
  if reserve > 0 and s.price < reserve and s.lmax >= reserve then s.price = reserve end
  if not sudden and s.ends - now < extend then s.ends = now + extend end
  s.bids, s.seq = s.bids + 1, s.seq + 1
  save(KEYS[1], s)
  first = redis.call('SADD', KEYS[3], buyer)
  redis.call('PUBLISH', ARGV[6], enc(ARGV[1], s))
end
local ans = cjson.encode({result = res, phase = s.phase, at_ms = d(now), ends_ms = d(s.ends), price_cents = d(s.price),
  leader = s.leader, bids = d(s.bids), seq = d(s.seq), first = d(first)})
redis.call('RPUSH', KEYS[2], cjson.encode({result = res, buyer = buyer, amount_cents = ARGV[3], max_cents = ARGV[4],
  at_ms = d(now), price_cents_after = d(s.price), leader_after = s.leader, ends_ms_after = d(s.ends),
  ends_ms_before = d(before_ends), price_cents_before = d(before_price), seq_after = d(s.seq)}))
if ARGV[7] == '1' then redis.call('SET', KEYS[4], ans, 'EX', ARGV[5]) end
return {'ok', ans}
`)

// KEYS: meta; ARGV: lot id, channel. Created -> live until now + duration;
// the start time is kept (started).
var scriptStart = redis.NewScript(luaHead + `
local s = load(KEYS[1])
if not s then return 'notfound' end
if s.phase == 'live' then return 'ok' end
if s.phase ~= 'created' then return 'conflict:' .. s.phase end
s.phase = 'live'
local now = nowms()
s.ends = now + tonumber(redis.call('HGET', KEYS[1], 'duration'))
s.seq = s.seq + 1
save(KEYS[1], s)
redis.call('HSET', KEYS[1], 'started', d(now))
redis.call('PUBLISH', ARGV[2], enc(ARGV[1], s))
return 'ok'
`)

// KEYS: meta; ARGV: lot id, channel. A live lot's end comes to now.
var scriptEnd = redis.NewScript(luaHead + `
local s = load(KEYS[1])
if not s then return 'notfound' end
if s.phase == 'created' then return 'conflict:created' end
local now = nowms()
if s.phase == 'live' and now < s.ends then
  s.ends, s.seq = now, s.seq + 1
  save(KEYS[1], s)
  redis.call('PUBLISH', ARGV[2], enc(ARGV[1], s))
end
return 'ok'
`)

// KEYS: meta; ARGV: lot id, channel. A live lot past its end is ended.
var scriptFinish = redis.NewScript(luaHead + `
local s = load(KEYS[1])
if not s then return 'notfound' end
if s.phase == 'ended' then return 'ended' end
if s.phase ~= 'live' or nowms() < s.ends then return 'running' end
s.phase, s.seq = 'ended', s.seq + 1
save(KEYS[1], s)
redis.call('PUBLISH', ARGV[2], enc(ARGV[1], s))
return 'ended'
`)
