package viewlog

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// RedisLog is a Log in Redis: one list of JSON events per stream, bounded
// to the book's size (the oldest go first), and a set naming the streams.
// An append is one pipeline, not a transaction (the keys may sit on
// different cluster slots): a list written but not named is found again
// by the next append's name.
type RedisLog struct {
	rdb redis.UniversalClient
	max int64
}

// NewRedisLog returns a Log on rdb keeping at most max events per stream
// (0: DefaultMax).
func NewRedisLog(rdb redis.UniversalClient, max int) *RedisLog {
	if max <= 0 {
		max = DefaultMax
	}
	return &RedisLog{rdb: rdb, max: int64(max)}
}

const (
	redisStreamsKey = "livedrop:views:streams"
	loadChunk       = 10_000
)

func redisViewsKey(stream string) string { return "livedrop:views:{" + stream + "}" }

// Append implements Log.
func (l *RedisLog) Append(ctx context.Context, stream string, evs []Event) error {
	vals := make([]any, 0, len(evs))
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		vals = append(vals, b)
	}
	key := redisViewsKey(stream)
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, redisStreamsKey, stream)
		p.RPush(ctx, key, vals...)
		p.LTrim(ctx, key, -l.max, -1)
		return nil
	})
	return err
}

// Load implements Log. An entry that does not decode is skipped.
func (l *RedisLog) Load(ctx context.Context) (map[string][]Event, error) {
	streams, err := l.rdb.SMembers(ctx, redisStreamsKey).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]Event, len(streams))
	for _, stream := range streams {
		var evs []Event
		for from := int64(0); ; from += loadChunk {
			vals, err := l.rdb.LRange(ctx, redisViewsKey(stream), from, from+loadChunk-1).Result()
			if err != nil {
				return nil, fmt.Errorf("stream %q: %w", stream, err)
			}
			for _, v := range vals {
				var e Event
				if json.Unmarshal([]byte(v), &e) == nil {
					evs = append(evs, e)
				}
			}
			if len(vals) < loadChunk {
				break
			}
		}
		out[stream] = evs
	}
	return out, nil
}
