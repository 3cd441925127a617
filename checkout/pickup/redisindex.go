package pickup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore's index: a code's entry beside its collection (its hash
// tag), a set of codes per day and one of the open codes, and a hash of
// the drops' cursors; days and entries expire after IndexTTL.

func indexKey(code string) string { return "livedrop:pickup:{" + code + "}:order" }

// The days and the open codes share a hash tag: DayCodes unions them.
func dayKey(day string) string { return "livedrop:pickup:{index}:day:" + day }

const (
	openKey    = "livedrop:pickup:{index}:open"
	cursorsKey = "livedrop:pickup:{index}:cursors"
)

// indexBatch bounds the commands of one pipeline.
const indexBatch = 200

// listCollected lists c's code on every day from its order's creation to
// c's time (openDays). Collect does it before it records the collection:
// a call cut off between the two leaves the code on days the list then
// filters out by the collection's time, never missing from one.
func (s *RedisStore) listCollected(ctx context.Context, c Collection) error {
	created := c.At
	v, err := s.rdb.Get(ctx, indexKey(c.Code)).Result()
	switch {
	case err == nil:
		var e IndexEntry
		if err := json.Unmarshal([]byte(v), &e); err != nil {
			return fmt.Errorf("pickup: index entry of %s: %w", c.Code, err)
		}
		created = e.Created
	case !errors.Is(err, redis.Nil):
		return fmt.Errorf("pickup: read index: %w", err)
	}
	pipe := s.rdb.Pipeline()
	addDays(ctx, pipe, c.Code, openDays(created, c.At))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("pickup: index collection: %w", err)
	}
	return nil
}

// addDays queues code's listing on each of days.
func addDays(ctx context.Context, pipe redis.Pipeliner, code string, days []string) {
	for _, d := range days {
		pipe.SAdd(ctx, dayKey(d), code)
		pipe.Expire(ctx, dayKey(d), IndexTTL)
	}
}

// indexCollected takes a collected code out of the open ones.
func (s *RedisStore) indexCollected(ctx context.Context, c Collection) error {
	if err := s.rdb.SRem(ctx, openKey, c.Code).Err(); err != nil {
		return fmt.Errorf("pickup: index collection: %w", err)
	}
	return nil
}

// Index implements Store.
func (s *RedisStore) Index(ctx context.Context, entries []IndexEntry) error {
	for i := 0; i < len(entries); i += indexBatch {
		part := entries[i:min(i+indexBatch, len(entries))]
		pipe := s.rdb.Pipeline()
		set := make([]*redis.BoolCmd, len(part))
		done := make([]*redis.StringCmd, len(part))
		for j, e := range part {
			enc, err := json.Marshal(e)
			if err != nil {
				return err
			}
			set[j] = pipe.SetNX(ctx, indexKey(e.Code), enc, IndexTTL)
			done[j] = pipe.Get(ctx, collectedKey(e.Code))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("pickup: index orders: %w", err)
		}
		pipe = s.rdb.Pipeline()
		for j, e := range part {
			if err := set[j].Err(); err != nil {
				return fmt.Errorf("pickup: index orders: %w", err)
			}
			if !set[j].Val() {
				continue // indexed before
			}
			if v, err := done[j].Result(); err == nil { // collected before it was indexed
				var c Collection
				if err := json.Unmarshal([]byte(v), &c); err != nil {
					return fmt.Errorf("pickup: collection of %s: %w", e.Code, err)
				}
				addDays(ctx, pipe, e.Code, append(openDays(e.Created, c.At), dayOf(e.Created)))
				continue
			}
			addDays(ctx, pipe, e.Code, []string{dayOf(e.Created)})
			pipe.SAdd(ctx, openKey, e.Code)
		}
		if pipe.Len() == 0 {
			continue
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("pickup: index orders: %w", err)
		}
	}
	return nil
}

// Indexed implements Store.
func (s *RedisStore) Indexed(ctx context.Context, codes []string) (map[string]IndexEntry, error) {
	out := make(map[string]IndexEntry, len(codes))
	for i := 0; i < len(codes); i += indexBatch {
		part := codes[i:min(i+indexBatch, len(codes))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(part))
		for j, c := range part {
			cmds[j] = pipe.Get(ctx, indexKey(c))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("pickup: read index: %w", err)
		}
		for j, cmd := range cmds {
			v, err := cmd.Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("pickup: read index: %w", err)
			}
			var e IndexEntry
			if err := json.Unmarshal([]byte(v), &e); err != nil {
				return nil, fmt.Errorf("pickup: index entry of %s: %w", part[j], err)
			}
			out[part[j]] = e
		}
	}
	return out, nil
}

// DayCodes implements Store.
func (s *RedisStore) DayCodes(ctx context.Context, day time.Time) ([]string, error) {
	codes, err := s.rdb.SUnion(ctx, dayKey(dayOf(day)), openKey).Result()
	if err != nil {
		return nil, fmt.Errorf("pickup: read the day's codes: %w", err)
	}
	return codes, nil
}

// Retire implements Store.
func (s *RedisStore) Retire(ctx context.Context, codes []string) error {
	if len(codes) == 0 {
		return nil
	}
	if err := s.rdb.SRem(ctx, openKey, codes).Err(); err != nil {
		return fmt.Errorf("pickup: retire codes: %w", err)
	}
	return nil
}

// Cursors implements Store.
func (s *RedisStore) Cursors(ctx context.Context) (map[string]int, error) {
	m, err := s.rdb.HGetAll(ctx, cursorsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("pickup: read cursors: %w", err)
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("pickup: cursor of drop %s: %w", k, err)
		}
		out[k] = n
	}
	return out, nil
}

// scriptRaiseCursors sets each drop's cursor to the larger of the stored
// and the given one: two origins catching up at once never move one back.
var scriptRaiseCursors = redis.NewScript(`
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i+1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
end
return 1
`)

// SetCursors implements Store.
func (s *RedisStore) SetCursors(ctx context.Context, cursors map[string]int) error {
	if len(cursors) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(cursors))
	for k, v := range cursors {
		args = append(args, k, v)
	}
	if err := scriptRaiseCursors.Run(ctx, s.rdb, []string{cursorsKey}, args...).Err(); err != nil {
		return fmt.Errorf("pickup: record cursors: %w", err)
	}
	return nil
}
