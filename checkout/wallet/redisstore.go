package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
)

// RedisStore is the Store on Redis. Every wallet key shares the hash tag
// {wallet}, so one script moves a buyer's balance, the liability and the
// ledger together (also on Redis Cluster). It uses the checkout store's
// client and does not close it. Durability is Redis's: with appendfsync
// always a movement that answered survives a restart.
type RedisStore struct {
	rdb redis.UniversalClient
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore keeps its keys in rdb.
func NewRedisStore(rdb redis.UniversalClient) *RedisStore { return &RedisStore{rdb: rdb} }

// Key names, in one place.
const (
	keysKey     = "{wallet}:keys"     // hash: movement key -> entry JSON
	seqKey      = "{wallet}:seq"      // the last entry's sequence number
	ledgerKey   = "{wallet}:ledger"   // stream, append-only: field e = entry JSON
	liabKey     = "{wallet}:liab"     // hash: currency -> sum of buyer balances
	accountsKey = "{wallet}:accounts" // set of accounts that have a balance
	holdsKey    = "{wallet}:holds"    // hash: order id -> hold record JSON
	openKey     = "{wallet}:open"     // sorted set: orders held, by when (ms)
)

func balKey(account string) string { return "{wallet}:bal:" + account } // hash: currency -> cents
func buyerLog(buyer string) string { return "{wallet}:log:" + buyer }   // list of the buyer's entries

// applyScript applies one movement: KEYS keys, seq, ledger, debit balance,
// credit balance, liability, accounts, buyer log, holds; ARGV key, entry
// JSON (with "seq":0 first), amount, currency, debit is a buyer (1/0:
// checked not to go below zero), credit is owed to a buyer (1/0), debit
// account, credit account, debit is owed to a buyer (1/0), then for a hold
// movement the order, the hold record expected ("" none), the next, and
// the time (ms) it is held from when the next is held ("": not held; KEYS
// open holds, by that time). It
// answers {"ok"|"replay", entry}, {"insufficient", balance} or
// {"changed", record}.
var applyScript = redis.NewScript(`
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev then return {'replay', prev} end
if ARGV[10] ~= '' then
  local cur = redis.call('HGET', KEYS[9], ARGV[10]) or ''
  if cur ~= ARGV[11] then return {'changed', cur} end
end
local amt = tonumber(ARGV[3])
if ARGV[5] == '1' then
  local bal = tonumber(redis.call('HGET', KEYS[4], ARGV[4]) or '0')
  if bal < amt then return {'insufficient', tostring(bal)} end
end
local seq = redis.call('INCR', KEYS[2])
local e = '{"seq":' .. seq .. ',' .. string.sub(ARGV[2], 10)
redis.call('HSET', KEYS[1], ARGV[1], e)
redis.call('XADD', KEYS[3], '*', 'e', e)
redis.call('HINCRBY', KEYS[4], ARGV[4], -amt)
redis.call('HINCRBY', KEYS[5], ARGV[4], amt)
redis.call('SADD', KEYS[7], ARGV[7], ARGV[8])
if ARGV[9] == '1' then redis.call('HINCRBY', KEYS[6], ARGV[4], -amt) end
if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[6], ARGV[4], amt) end
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[9], ARGV[10], ARGV[12])
  if ARGV[13] ~= '' then redis.call('ZADD', KEYS[10], ARGV[13], ARGV[10]) else redis.call('ZREM', KEYS[10], ARGV[10]) end
end
redis.call('RPUSH', KEYS[8], e)
return {'ok', e}
`)

func unavailable(op string, err error) error {
	return fmt.Errorf("wallet %s: %w: %w", op, checkout.ErrUnavailable, err)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Apply implements Store.
func (s *RedisStore) Apply(ctx context.Context, m Movement) (Entry, bool, error) {
	if err := m.Validate(); err != nil {
		return Entry{}, false, err
	}
	e := m.entry(0)
	enc, err := json.Marshal(e)
	if err != nil {
		return Entry{}, false, err
	}
	if !strings.HasPrefix(string(enc), `{"seq":0,`) {
		return Entry{}, false, fmt.Errorf("wallet: entry encoding %.20s", enc)
	}
	ks := []string{keysKey, seqKey, ledgerKey, balKey(e.Debit), balKey(e.Credit), liabKey, accountsKey, buyerLog(m.Buyer), holdsKey, openKey}
	var order, expect, next, openAt string
	if m.Hold != nil {
		order, expect, next = m.Order, m.Hold.Expect, m.Hold.Next
		if r, err := decodeHold(next); err == nil && r.State == HoldHeld {
			openAt = strconv.FormatInt(r.At.UnixMilli(), 10)
		}
	}
	res, err := applyScript.Run(ctx, s.rdb, ks, m.Key, string(enc), m.AmountCents, m.Currency,
		flag(isBuyerAccount(e.Debit)), flag(isOwedAccount(e.Credit)), e.Debit, e.Credit, flag(isOwedAccount(e.Debit)),
		order, expect, next, openAt).StringSlice()
	if err != nil {
		return Entry{}, false, unavailable("apply", err)
	}
	if len(res) != 2 {
		return Entry{}, false, fmt.Errorf("wallet apply: unexpected answer %q", res)
	}
	switch res[0] {
	case "insufficient":
		bal, _ := strconv.ParseInt(res[1], 10, 64)
		return Entry{}, false, &ShortError{BalanceCents: bal}
	case "changed":
		return Entry{}, false, ErrHoldChanged
	case "ok", "replay":
		var got Entry
		if err := json.Unmarshal([]byte(res[1]), &got); err != nil {
			return Entry{}, false, fmt.Errorf("wallet apply: decode entry: %w", err)
		}
		if res[0] == "replay" && !got.same(m) {
			return Entry{}, false, ErrKeyReused
		}
		return got, res[0] == "replay", nil
	}
	return Entry{}, false, fmt.Errorf("wallet apply: unexpected answer %q", res[0])
}

// Entry implements Store.
func (s *RedisStore) Entry(ctx context.Context, key string) (Entry, bool, error) {
	v, err := s.rdb.HGet(ctx, keysKey, key).Result()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, unavailable("read entry", err)
	}
	var e Entry
	if err := json.Unmarshal([]byte(v), &e); err != nil {
		return Entry{}, false, fmt.Errorf("wallet: decode entry %s: %w", key, err)
	}
	return e, true, nil
}

// Statement implements Store.
func (s *RedisStore) Statement(ctx context.Context, buyer string, n int) (Statement, error) {
	var bal, held *redis.MapStringStringCmd
	var last *redis.StringSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		bal = p.HGetAll(ctx, balKey(BuyerAccount(buyer)))
		held = p.HGetAll(ctx, balKey(HoldAccount(buyer)))
		last = p.LRange(ctx, buyerLog(buyer), int64(-n), -1)
		return nil
	})
	if err != nil {
		return Statement{}, unavailable("statement", err)
	}
	st := Statement{Buyer: buyer, Entries: []Entry{}}
	if st.Balances, err = cents(bal.Val()); err != nil {
		return Statement{}, err
	}
	h, err := cents(held.Val())
	if err != nil {
		return Statement{}, err
	}
	for cur, v := range h {
		if v != 0 {
			if st.Held == nil {
				st.Held = map[string]int64{}
			}
			st.Held[cur] = v
		}
	}
	raw := last.Val()
	for i := len(raw) - 1; i >= 0; i-- {
		var e Entry
		if err := json.Unmarshal([]byte(raw[i]), &e); err != nil {
			return Statement{}, fmt.Errorf("wallet: decode entry: %w", err)
		}
		st.Entries = append(st.Entries, e)
	}
	return st, nil
}

func cents(m map[string]string) (map[string]int64, error) {
	out := make(map[string]int64, len(m))
	for cur, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("wallet: balance %q: %w", v, err)
		}
		out[cur] = n
	}
	return out, nil
}

// Liability implements Store.
func (s *RedisStore) Liability(ctx context.Context) (map[string]int64, error) {
	m, err := s.rdb.HGetAll(ctx, liabKey).Result()
	if err != nil {
		return nil, unavailable("liability", err)
	}
	return cents(m)
}

// Balances implements Store.
func (s *RedisStore) Balances(ctx context.Context) (map[string]map[string]int64, error) {
	accts, err := s.rdb.SMembers(ctx, accountsKey).Result()
	if err != nil {
		return nil, unavailable("accounts", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(accts))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, a := range accts {
			cmds[i] = p.HGetAll(ctx, balKey(a))
		}
		return nil
	}); err != nil {
		return nil, unavailable("balances", err)
	}
	out := make(map[string]map[string]int64, len(accts))
	for i, a := range accts {
		if out[a], err = cents(cmds[i].Val()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Ledger implements Store.
func (s *RedisStore) Ledger(ctx context.Context) ([]Entry, error) {
	var out []Entry
	start := "-"
	for {
		msgs, err := s.rdb.XRangeN(ctx, ledgerKey, start, "+", 1000).Result()
		if err != nil {
			return nil, unavailable("ledger", err)
		}
		for _, m := range msgs {
			v, _ := m.Values["e"].(string)
			var e Entry
			if err := json.Unmarshal([]byte(v), &e); err != nil {
				return nil, fmt.Errorf("wallet: decode ledger entry %s: %w", m.ID, err)
			}
			out = append(out, e)
		}
		if len(msgs) < 1000 {
			return out, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// HoldOf implements Store.
func (s *RedisStore) HoldOf(ctx context.Context, order string) (string, error) {
	v, err := s.rdb.HGet(ctx, holdsKey, order).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", unavailable("read hold", err)
	}
	return v, nil
}

// OpenHolds implements Store.
func (s *RedisStore) OpenHolds(ctx context.Context, before time.Time, n int) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, openKey, &redis.ZRangeBy{Min: "-inf", Max: "(" + strconv.FormatInt(before.UnixMilli(), 10), Count: int64(n)}).Result()
	if err != nil {
		return nil, unavailable("open holds", err)
	}
	return ids, nil
}
