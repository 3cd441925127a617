package pickup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps collections in Redis beside the drops: the code's
// collection is set once (SET NX) and never changed; other desks' attempts
// go to a hash by desk (HSETNX), so a resent sync changes nothing.
type RedisStore struct {
	rdb redis.UniversalClient
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore keeps collections on rdb (the checkout store's client).
func NewRedisStore(rdb redis.UniversalClient) *RedisStore { return &RedisStore{rdb: rdb} }

// Key names, with the code as hash tag: a code's keys share a slot.
func collectedKey(code string) string { return "livedrop:pickup:{" + code + "}:collected" }
func conflictsKey(code string) string { return "livedrop:pickup:{" + code + "}:conflicts" }

// Collect implements Store.
func (s *RedisStore) Collect(ctx context.Context, c Collection) (CollectResult, error) {
	enc, err := json.Marshal(c)
	if err != nil {
		return CollectResult{}, err
	}
	if err := s.listCollected(ctx, c); err != nil {
		return CollectResult{}, err
	}
	ok, err := s.rdb.SetNX(ctx, collectedKey(c.Code), enc, 0).Result()
	if err != nil {
		return CollectResult{}, fmt.Errorf("pickup: record collection: %w", err)
	}
	if ok {
		if err := s.indexCollected(ctx, c); err != nil {
			return CollectResult{}, err
		}
		return CollectResult{Outcome: Collected, First: c, New: true}, nil
	}
	v, err := s.rdb.Get(ctx, collectedKey(c.Code)).Result()
	if err != nil {
		return CollectResult{}, fmt.Errorf("pickup: read collection: %w", err)
	}
	var first Collection
	if err := json.Unmarshal([]byte(v), &first); err != nil {
		return CollectResult{}, fmt.Errorf("pickup: collection of %s: %w", c.Code, err)
	}
	switch {
	case resent(first, c):
		// The first call may have died before it left the open codes.
		if err := s.indexCollected(ctx, first); err != nil {
			return CollectResult{}, err
		}
		return CollectResult{Outcome: Collected, First: first}, nil
	case first.Desk == c.Desk:
		return CollectResult{Outcome: AlreadyCollectedHere, First: first}, nil
	}
	added, err := s.rdb.HSetNX(ctx, conflictsKey(c.Code), conflictField(c), enc).Result()
	if err != nil {
		return CollectResult{}, fmt.Errorf("pickup: record conflict: %w", err)
	}
	return CollectResult{Outcome: Conflict, First: first, New: added}, nil
}

// Collections implements Store.
func (s *RedisStore) Collections(ctx context.Context, codes []string) (map[string]Collection, error) {
	out := make(map[string]Collection, len(codes))
	const batch = 200
	for i := 0; i < len(codes); i += batch {
		part := codes[i:min(i+batch, len(codes))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(part))
		for j, c := range part {
			cmds[j] = pipe.Get(ctx, collectedKey(c))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("pickup: read collections: %w", err)
		}
		for j, cmd := range cmds {
			v, err := cmd.Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("pickup: read collections: %w", err)
			}
			var c Collection
			if err := json.Unmarshal([]byte(v), &c); err != nil {
				return nil, fmt.Errorf("pickup: collection of %s: %w", part[j], err)
			}
			out[part[j]] = c
		}
	}
	return out, nil
}

// Conflicts implements Store.
func (s *RedisStore) Conflicts(ctx context.Context, code string) ([]Collection, error) {
	m, err := s.rdb.HGetAll(ctx, conflictsKey(code)).Result()
	if err != nil {
		return nil, fmt.Errorf("pickup: read conflicts: %w", err)
	}
	out := make([]Collection, 0, len(m))
	for _, v := range m {
		var c Collection
		if err := json.Unmarshal([]byte(v), &c); err != nil {
			return nil, fmt.Errorf("pickup: conflict of %s: %w", code, err)
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Collection) int { return strings.Compare(conflictField(a), conflictField(b)) })
	return out, nil
}

func mailedKey(code string) string { return "livedrop:pickup:{" + code + "}:mailed" }

// MarkMailed implements Store (kept 30 days).
func (s *RedisStore) MarkMailed(ctx context.Context, code string) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, mailedKey(code), 1, 30*24*time.Hour).Result()
	if err != nil {
		return false, fmt.Errorf("pickup: mark mailed: %w", err)
	}
	return ok, nil
}

// ConflictCounts implements Store (HLEN of each code's conflicts, in
// pipelined batches).
func (s *RedisStore) ConflictCounts(ctx context.Context, codes []string) (map[string]int, error) {
	out := map[string]int{}
	const batch = 200
	for i := 0; i < len(codes); i += batch {
		part := codes[i:min(i+batch, len(codes))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(part))
		for j, c := range part {
			cmds[j] = pipe.HLen(ctx, conflictsKey(c))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("pickup: count conflicts: %w", err)
		}
		for j, cmd := range cmds {
			if n := cmd.Val(); n > 0 {
				out[part[j]] = int(n)
			}
		}
	}
	return out, nil
}
