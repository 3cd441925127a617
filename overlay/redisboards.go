package overlay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisBoards is the BoardStore on Redis: one hash, a field per stream
// holding "version\njson". One key, so it works on Redis Cluster too.
type RedisBoards struct {
	rdb redis.UniversalClient
	key string
}

var _ BoardStore = (*RedisBoards)(nil)

// BoardsKey is the Redis key of the shared overlay boards.
const BoardsKey = "livedrop:overlay:boards"

// NewRedisBoards stores boards through rdb (the checkout store's client).
func NewRedisBoards(rdb redis.UniversalClient) *RedisBoards {
	return &RedisBoards{rdb: rdb, key: BoardsKey}
}

// saveBoard: KEYS[1] the hash; ARGV stream, expected version, JSON.
// Returns {1, new version} or {0, the stored value}.
var saveBoard = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local v = 0
if cur then v = tonumber(string.match(cur, '^(%d+)')) end
if v ~= tonumber(ARGV[2]) then return {0, cur} end
redis.call('HSET', KEYS[1], ARGV[1], (v + 1) .. '\n' .. ARGV[3])
return {1, tostring(v + 1)}
`)

// SaveBoard implements BoardStore.
func (r *RedisBoards) SaveBoard(ctx context.Context, stream string, expect uint64, b SharedBoard) (uint64, bool, SharedBoard, error) {
	enc, err := json.Marshal(b)
	if err != nil {
		return 0, false, SharedBoard{}, err
	}
	res, err := saveBoard.Run(ctx, r.rdb, []string{r.key}, stream, expect, enc).Slice()
	if err != nil {
		return 0, false, SharedBoard{}, fmt.Errorf("overlay boards: save %s: %w", stream, err)
	}
	if len(res) != 2 {
		return 0, false, SharedBoard{}, fmt.Errorf("overlay boards: save %s: unexpected answer %v", stream, res)
	}
	val, _ := res[1].(string)
	if ok, _ := res[0].(int64); ok == 1 {
		v, err := strconv.ParseUint(val, 10, 64)
		return v, err == nil, SharedBoard{}, err
	}
	cur, err := decodeBoard(val)
	return 0, false, cur, err
}

// LoadBoards implements BoardStore. A damaged entry is left out (and
// named in the error); the others load.
func (r *RedisBoards) LoadBoards(ctx context.Context) (map[string]SharedBoard, error) {
	all, err := r.rdb.HGetAll(ctx, r.key).Result()
	if err != nil {
		return nil, fmt.Errorf("overlay boards: load: %w", err)
	}
	out := make(map[string]SharedBoard, len(all))
	var bad []error
	for stream, val := range all {
		b, err := decodeBoard(val)
		if err != nil {
			bad = append(bad, fmt.Errorf("overlay boards: stream %s: %w", stream, err))
			continue
		}
		out[stream] = b
	}
	return out, errors.Join(bad...)
}

func decodeBoard(val string) (SharedBoard, error) {
	ver, body, ok := strings.Cut(val, "\n")
	if !ok {
		return SharedBoard{}, fmt.Errorf("stored board %.40q is not version and JSON", val)
	}
	var b SharedBoard
	v, err := strconv.ParseUint(ver, 10, 64)
	if err != nil {
		return SharedBoard{}, fmt.Errorf("stored board version %q: %w", ver, err)
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return SharedBoard{}, fmt.Errorf("stored board: %w", err)
	}
	b.Version = v
	return b, nil
}
