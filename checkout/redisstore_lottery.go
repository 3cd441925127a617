package checkout

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Opening lotteries on Redis: the lottery's record (hash), its entries
// (hash of id -> entry json) and the draw's results (hash of id -> "won
// ORDER", "lost PLACE" or "limit"), all under the drop's hash tag. Enter,
// StartLottery, CloseEntries, Award and FinishLottery are scripts.

func (k keys) lottery() string { return k.tag + ":lottery" }
func (k keys) entries() string { return k.tag + ":entries" }
func (k keys) results() string { return k.tag + ":results" }

// opening is how a drop's opens_at and lottery are kept in its meta hash.
type opening struct {
	OpensAt time.Time `json:"opens_at,omitzero"`
	Lottery *Lottery  `json:"lottery,omitempty"`
	Members *Members  `json:"members,omitempty"`
}

// appendOpening adds the meta field of d's opening to CreateDrop's args.
func appendOpening(args []any, d Drop) ([]any, error) {
	if d.OpensAt.IsZero() && d.Lottery == nil {
		return args, nil
	}
	b, err := json.Marshal(opening{OpensAt: d.OpensAt, Lottery: d.Lottery, Members: d.Members})
	if err != nil {
		return nil, fmt.Errorf("encode opening: %w", err)
	}
	return append(args, "opening", string(b)), nil
}

func decodeOpening(v string, d *Drop) error {
	if v == "" {
		return nil
	}
	var o opening
	if err := json.Unmarshal([]byte(v), &o); err != nil {
		return err
	}
	d.OpensAt, d.Lottery, d.Members = o.OpensAt, o.Lottery, o.Members
	return nil
}

// KEYS: meta, lottery; ARGV: seed hex, seed hash, started ms, window ms
var scriptLotStart = redis.NewScript(`
if redis.call('HEXISTS', KEYS[2], 'seed_hash') == 1 then return 'ok' end
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return 'notfound' end
if st ~= 'created' then return 'conflict:' .. st end
redis.call('HSET', KEYS[1], 'state', 'drawing')
redis.call('HSET', KEYS[2], 'seed', ARGV[1], 'seed_hash', ARGV[2], 'started_ms', ARGV[3], 'window_ms', ARGV[4])
return 'ok'
`)

// KEYS: meta, lottery, entries, results; ARGV: id, entry json, max entries
var scriptEnter = redis.NewScript(`
local function pub(kind, enc, result)
  local l = redis.call('HMGET', KEYS[2], 'seed_hash', 'started_ms', 'window_ms')
  return {kind, enc, result, l[1] or '', l[2] or '0', l[3] or '0'}
end
local ex = redis.call('HGET', KEYS[3], ARGV[1])
if ex then return pub('exists', ex, redis.call('HGET', KEYS[4], ARGV[1]) or '') end
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'notfound', '', '', '', '0', '0'} end
if st ~= 'drawing' or redis.call('HEXISTS', KEYS[2], 'seed_hash') == 0 then return {'notdrawn', st, '', '', '0', '0'} end
if redis.call('HGET', KEYS[2], 'closed') == '1' then return {'closed', '', '', '', '0', '0'} end
if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[3]) then return {'full', '', '', '', '0', '0'} end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return pub('entered', ARGV[2], '')
`)

// KEYS: lottery
var scriptLotClose = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'seed_hash') == 0 then return 'notfound' end
redis.call('HSET', KEYS[1], 'closed', '1')
return 'ok'
`)

// KEYS: meta, lottery
var scriptLotFinish = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if st == 'drawing' then
  redis.call('HSET', KEYS[1], 'state', 'open')
  redis.call('HSET', KEYS[2], 'closed', '1', 'drawn', '1')
  return 'ok'
end
if redis.call('HGET', KEYS[2], 'drawn') == '1' then return 'ok' end
return 'conflict:' .. (st or 'missing')
`)

// Award sells one winner: the direct sale's rules in state drawing (no
// edge holds a lease or an allowance before the drop first opens). KEYS and
// ARGV are the sale scripts' (shipArgs).
var scriptAward = redis.NewScript(luaNow + luaRecord + luaExisting + `
if redis.call('HGET', KEYS[7], 'state') ~= 'drawing' then return {'notopen', ''} end
local qty = tonumber(ARGV[4])
local lims = limits()
local over = overLimit(lims, qty)
if over then return {'limit', over} end
if num(redis.call('HGET', KEYS[1], 'free')) < qty then return {'soldout', ''} end
redis.call('HINCRBY', KEYS[1], 'free', -qty)
return sell(cjson.decode(ARGV[2]), qty, lims)
`)

// StartLottery implements LotteryStore.
func (s *RedisStore) StartLottery(ctx context.Context, drop string, seed []byte, at time.Time) (LotteryInfo, error) {
	d, err := s.Drop(ctx, drop)
	if err != nil {
		return LotteryInfo{}, err
	}
	if d.Lottery == nil {
		return LotteryInfo{}, fmt.Errorf("drop %s has no lottery: %w", drop, ErrConflict)
	}
	k := dropKeys(drop)
	res, err := scriptLotStart.Run(ctx, s.rdb, []string{k.meta(), k.lottery()},
		hex.EncodeToString(seed), SeedHash(seed), at.UnixMilli(), d.Lottery.Window().Milliseconds()).Text()
	if err != nil {
		return LotteryInfo{}, unavailable("start lottery", err)
	}
	switch {
	case res == "notfound":
		return LotteryInfo{}, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	case strings.HasPrefix(res, "conflict:"):
		return LotteryInfo{}, fmt.Errorf("drop %s is %s, cannot start a lottery: %w", drop, strings.TrimPrefix(res, "conflict:"), ErrConflict)
	}
	return s.Lottery(ctx, drop)
}

// Enter implements LotteryStore.
func (s *RedisStore) Enter(ctx context.Context, e Entry, maxEntries int) (EnterResult, error) {
	e.Result, e.Order, e.Place = "", "", 0
	enc, err := json.Marshal(e)
	if err != nil {
		return EnterResult{}, fmt.Errorf("encode entry: %w", err)
	}
	k := dropKeys(e.Drop)
	vals, err := scriptEnter.Run(ctx, s.rdb, []string{k.meta(), k.lottery(), k.entries(), k.results()}, e.ID, string(enc), maxEntries).StringSlice()
	if err != nil {
		return EnterResult{}, unavailable("enter lottery", err)
	}
	if len(vals) != 6 {
		return EnterResult{}, fmt.Errorf("enter lottery: unexpected reply %v", vals)
	}
	switch vals[0] {
	case "notfound":
		return EnterResult{}, fmt.Errorf("drop %s: %w", e.Drop, ErrNotFound)
	case "notdrawn":
		return EnterResult{Outcome: EnterNot, State: vals[1]}, nil
	case "closed", "full":
		return EnterResult{Outcome: EnterOutcome(vals[0])}, nil
	}
	got, err := decodeEntry(vals[1], vals[2])
	if err != nil {
		return EnterResult{}, err
	}
	out := EnterNew
	if vals[0] == "exists" {
		out = EnterExists
	}
	return EnterResult{Outcome: out, Entry: got, Lottery: LotteryInfo{SeedHash: vals[3],
		StartedAt: time.UnixMilli(int64(atoi(vals[4]))).UTC(), WindowMs: atoi(vals[5])}}, nil
}

// decodeEntry reads an entry's json and its result ("" before the draw).
func decodeEntry(enc, result string) (Entry, error) {
	var e Entry
	if err := json.Unmarshal([]byte(enc), &e); err != nil {
		return Entry{}, fmt.Errorf("decode entry: %w", err)
	}
	kind, arg, _ := strings.Cut(result, " ")
	e.Result = kind
	switch kind {
	case EntryWon:
		// "won ORDER PLACE": offered from the waitlist (redisstore_waitlist.go)
		var place string
		e.Order, place, _ = strings.Cut(arg, " ")
		e.Place, _ = strconv.Atoi(place)
	case EntryLost:
		e.Place, _ = strconv.Atoi(arg)
	}
	return e, nil
}

func encodeResult(e Entry) string {
	switch e.Result {
	case EntryWon:
		return EntryWon + " " + e.Order
	case EntryLost:
		return EntryLost + " " + strconv.Itoa(e.Place)
	}
	return e.Result
}

// Entry implements LotteryStore.
func (s *RedisStore) Entry(ctx context.Context, drop, id string) (Entry, error) {
	k := dropKeys(drop)
	pipe := s.rdb.Pipeline()
	enc := pipe.HGet(ctx, k.entries(), id)
	res := pipe.HGet(ctx, k.results(), id)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Entry{}, unavailable("read entry", err)
	}
	if errors.Is(enc.Err(), redis.Nil) {
		return Entry{}, fmt.Errorf("entry %s: %w", id, ErrNotFound)
	}
	return decodeEntry(enc.Val(), res.Val())
}

// CloseEntries implements LotteryStore.
func (s *RedisStore) CloseEntries(ctx context.Context, drop string) error {
	res, err := scriptLotClose.Run(ctx, s.rdb, []string{dropKeys(drop).lottery()}).Text()
	if err != nil {
		return unavailable("close lottery entries", err)
	}
	if res == "notfound" {
		return fmt.Errorf("lottery of drop %s: %w", drop, ErrNotFound)
	}
	return nil
}

// Entries implements LotteryStore.
func (s *RedisStore) Entries(ctx context.Context, drop string) ([]Entry, error) {
	k := dropKeys(drop)
	pipe := s.rdb.Pipeline()
	encs := pipe.HGetAll(ctx, k.entries())
	results := pipe.HGetAll(ctx, k.results())
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable("read entries", err)
	}
	res := results.Val()
	out := make([]Entry, 0, len(encs.Val()))
	for id, enc := range encs.Val() {
		e, err := decodeEntry(enc, res[id])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Award implements LotteryStore: all items in one pipeline, in order.
func (s *RedisStore) Award(ctx context.Context, items []ShipItem) ([]ShipResult, error) {
	for i := range items {
		if _, _, _, err := shipArgs(items[i]); err != nil {
			return nil, err
		}
	}
	cmds, err := s.sales(ctx, scriptAward, items)
	if err != nil {
		return nil, unavailable("award lottery winners", err)
	}
	out := make([]ShipResult, len(items))
	for i, c := range cmds {
		r, err := parseResult(c.Slice())
		if err != nil {
			return nil, fmt.Errorf("award order %s: %w", items[i].Order.ID, err)
		}
		out[i] = r
	}
	return out, nil
}

// SetResults implements LotteryStore.
func (s *RedisStore) SetResults(ctx context.Context, drop string, entries []Entry) error {
	k := dropKeys(drop)
	for len(entries) > 0 {
		n := min(len(entries), resultsPerOp)
		args := make([]any, 0, 2*n)
		for _, e := range entries[:n] {
			args = append(args, e.ID, encodeResult(e))
		}
		if err := s.rdb.HSet(ctx, k.results(), args...).Err(); err != nil {
			return unavailable("write lottery results", err)
		}
		entries = entries[n:]
	}
	return nil
}

// FinishLottery implements LotteryStore.
func (s *RedisStore) FinishLottery(ctx context.Context, drop string) error {
	k := dropKeys(drop)
	res, err := scriptLotFinish.Run(ctx, s.rdb, []string{k.meta(), k.lottery()}).Text()
	if err != nil {
		return unavailable("finish lottery", err)
	}
	if res != "ok" {
		return fmt.Errorf("drop %s is %s, cannot finish its draw: %w", drop, strings.TrimPrefix(res, "conflict:"), ErrConflict)
	}
	return nil
}

// Lottery implements LotteryStore.
func (s *RedisStore) Lottery(ctx context.Context, drop string) (LotteryInfo, error) {
	k := dropKeys(drop)
	pipe := s.rdb.Pipeline()
	lot := pipe.HGetAll(ctx, k.lottery())
	n := pipe.HLen(ctx, k.entries())
	op := pipe.HGet(ctx, k.meta(), "opening")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return LotteryInfo{}, unavailable("read lottery", err)
	}
	m := lot.Val()
	if m["seed_hash"] == "" {
		return LotteryInfo{}, fmt.Errorf("lottery of drop %s: %w", drop, ErrNotFound)
	}
	var d Drop
	if err := decodeOpening(op.Val(), &d); err != nil {
		return LotteryInfo{}, fmt.Errorf("decode drop %s opening: %w", drop, err)
	}
	return LotteryInfo{
		OpensAt: d.OpensAt, WindowMs: atoi(m["window_ms"]), StartedAt: time.UnixMilli(int64(atoi(m["started_ms"]))).UTC(),
		SeedHash: m["seed_hash"], Seed: m["seed"], Entries: int(n.Val()),
		Closed: m["closed"] == "1", Drawn: m["drawn"] == "1",
	}, nil
}
