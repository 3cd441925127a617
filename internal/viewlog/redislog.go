package viewlog

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// RedisLog is a Log in Redis: one list of JSON events per stream, bounded
// to the book's size (the oldest go first), and a set naming the streams.
// An append is idempotent: a set beside each list (same hash tag) holds
// the events the list has, so origins on one Redis (a standby, each
// copying the same reports) write each event once. An append is one
// pipeline, not a transaction (the streams' set may sit on another
// cluster slot): a list written but not named is found again by the next
// append's name.
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

// redisSeenKey holds the events stream's list has (see appendScript).
func redisSeenKey(stream string) string { return "livedrop:views:seen:{" + stream + "}" }

// appendScript pushes each event (ARGV but the last) onto the list
// (KEYS[1]) that its set (KEYS[2]) does not hold yet, then trims the list
// to ARGV's last (max), forgetting the events trimmed; it returns how many
// it pushed.
var appendScript = redis.NewScript(`
local n = 0
for i = 1, #ARGV - 1 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[1], ARGV[i])
    n = n + 1
  end
end
local over = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[#ARGV])
if over > 0 then
  for _, v in ipairs(redis.call('LRANGE', KEYS[1], 0, over - 1)) do
    redis.call('SREM', KEYS[2], v)
  end
  redis.call('LTRIM', KEYS[1], over, -1)
end
return n
`)

// Append implements Log.
func (l *RedisLog) Append(ctx context.Context, stream string, evs []Event) error {
	vals := make([]any, 0, len(evs)+1)
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		vals = append(vals, b)
	}
	vals = append(vals, l.max)
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, redisStreamsKey, stream)
		// Eval, not EvalSha: a pipeline cannot fall back on NOSCRIPT.
		appendScript.Eval(ctx, p, []string{redisViewsKey(stream), redisSeenKey(stream)}, vals...)
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
