package giveaway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps giveaways in Redis beside the drops: the record (SET
// NX), the entries (a set, so entering twice is one entry), a closed mark
// that an entry and the draw check in one script each, and the result
// (SET NX, set once).
type RedisStore struct {
	rdb redis.UniversalClient
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore keeps giveaways on rdb (the checkout store's client).
func NewRedisStore(rdb redis.UniversalClient) *RedisStore { return &RedisStore{rdb: rdb} }

// keys of giveaway id, with the id as hash tag: one slot per giveaway.
func keys(id string) (rec, entries, closed, result string) {
	p := "livedrop:giveaway:{" + id + "}:"
	return p + "rec", p + "entries", p + "closed", p + "result"
}

// enterScript: KEYS rec, entries, closed; ARGV buyer. -2 no giveaway, -1
// closed, else SADD's answer.
var enterScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
return redis.call('SADD', KEYS[2], ARGV[1])`)

// closeScript: KEYS rec, entries, closed. false: no giveaway; else the
// entrants.
var closeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('SET', KEYS[3], '1')
return redis.call('SMEMBERS', KEYS[2])`)

// Create implements Store.
func (s *RedisStore) Create(ctx context.Context, r Record) error {
	enc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	rec, _, _, _ := keys(r.Info.ID)
	ok, err := s.rdb.SetNX(ctx, rec, enc, 0).Result()
	switch {
	case err != nil:
		return fmt.Errorf("giveaway: create: %w", err)
	case !ok:
		return ErrExists
	}
	if err := s.rdb.Set(ctx, latestKey(r.Info.Stream), r.Info.ID, 0).Err(); err != nil {
		return fmt.Errorf("giveaway: announce: %w", err)
	}
	if err := s.rdb.SAdd(ctx, allKey, r.Info.ID).Err(); err != nil {
		return fmt.Errorf("giveaway: index: %w", err)
	}
	_ = s.publish(ctx, Change{ID: r.Info.ID}) // the giveaway stands: see publish
	return nil
}

// allKey lists every giveaway created (the event report reads it).
const allKey = "livedrop:giveaway:all"

// List implements Store.
func (s *RedisStore) List(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, allKey).Result()
	if err != nil {
		return nil, fmt.Errorf("giveaway: list: %w", err)
	}
	sort.Strings(ids)
	return ids, nil
}

// Entrants implements Store.
func (s *RedisStore) Entrants(ctx context.Context, id string) ([]string, error) {
	rec, entries, _, _ := keys(id)
	pipe := s.rdb.Pipeline()
	exists, members := pipe.Exists(ctx, rec), pipe.SMembers(ctx, entries)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("giveaway: entrants: %w", err)
	}
	if exists.Val() == 0 {
		return nil, ErrNotFound
	}
	out := members.Val()
	sort.Strings(out)
	return out, nil
}

// latestKey names the last giveaway started on stream.
func latestKey(stream string) string { return "livedrop:giveaway:stream:{" + stream + "}" }

// Latest implements Store.
func (s *RedisStore) Latest(ctx context.Context, stream string) (string, error) {
	id, err := s.rdb.Get(ctx, latestKey(stream)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("giveaway: latest: %w", err)
	}
	return id, nil
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, id string) (Record, Result, bool, error) {
	rec, entries, _, result := keys(id)
	pipe := s.rdb.Pipeline()
	g, n, res := pipe.Get(ctx, rec), pipe.SCard(ctx, entries), pipe.Get(ctx, result)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Record{}, Result{}, false, fmt.Errorf("giveaway: read: %w", err)
	}
	v, err := g.Result()
	if errors.Is(err, redis.Nil) {
		return Record{}, Result{}, false, ErrNotFound
	}
	var r Record
	if err == nil {
		err = json.Unmarshal([]byte(v), &r)
	}
	if err != nil {
		return Record{}, Result{}, false, fmt.Errorf("giveaway %s: %w", id, err)
	}
	r.Info.Entrants = int(n.Val())
	rv, err := res.Result()
	if errors.Is(err, redis.Nil) {
		return r, Result{}, false, nil
	}
	var out Result
	if err == nil {
		err = json.Unmarshal([]byte(rv), &out)
	}
	if err != nil {
		return Record{}, Result{}, false, fmt.Errorf("giveaway %s result: %w", id, err)
	}
	return r, out, true, nil
}

// Enter implements Store.
func (s *RedisStore) Enter(ctx context.Context, id, buyer string) (bool, error) {
	rec, entries, closed, _ := keys(id)
	n, err := enterScript.Run(ctx, s.rdb, []string{rec, entries, closed}, buyer).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("giveaway: enter: %w", err)
	case n == -2:
		return false, ErrNotFound
	case n == -1:
		return false, ErrClosed
	}
	return n == 1, nil
}

// Close implements Store.
func (s *RedisStore) Close(ctx context.Context, id string) ([]string, error) {
	rec, entries, closed, _ := keys(id)
	out, err := closeScript.Run(ctx, s.rdb, []string{rec, entries, closed}).StringSlice()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("giveaway: close: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

// SetResult implements Store.
func (s *RedisStore) SetResult(ctx context.Context, id string, res Result) (Result, error) {
	enc, err := json.Marshal(res)
	if err != nil {
		return Result{}, err
	}
	_, _, _, result := keys(id)
	if _, err := s.rdb.SetNX(ctx, result, enc, 0).Result(); err != nil {
		return Result{}, fmt.Errorf("giveaway: set result: %w", err)
	}
	v, err := s.rdb.Get(ctx, result).Result()
	if err != nil {
		return Result{}, fmt.Errorf("giveaway: read result: %w", err)
	}
	var out Result
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return Result{}, fmt.Errorf("giveaway %s result: %w", id, err)
	}
	_ = s.publish(ctx, Change{ID: id}) // the result stands: see publish
	return out, nil
}
