package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/origin"
)

// publishKeysKey is the Redis hash of the shared publish keys: a field per
// stream, its JSON entry.
const publishKeysKey = "livedrop:publish_keys"

// redisKeys is origin.KeyStore on the checkout store's Redis, so that the
// origins of a deployment accept the same publish keys.
type redisKeys struct{ rdb redis.UniversalClient }

var _ origin.KeyStore = redisKeys{}

func (r redisKeys) LoadKeys(ctx context.Context) (map[string]origin.PublishKey, error) {
	all, err := r.rdb.HGetAll(ctx, publishKeysKey).Result()
	if err != nil {
		return nil, fmt.Errorf("shared publish keys: %w", err)
	}
	out := make(map[string]origin.PublishKey, len(all))
	var bad []error
	for stream, val := range all {
		var k origin.PublishKey
		if err := json.Unmarshal([]byte(val), &k); err != nil {
			bad = append(bad, fmt.Errorf("shared publish key of stream %s is damaged: %w", stream, err))
			continue
		}
		out[stream] = k
	}
	return out, errors.Join(bad...)
}

func (r redisKeys) SaveKey(ctx context.Context, stream string, k origin.PublishKey) error {
	enc, err := json.Marshal(k)
	if err != nil {
		return err
	}
	return r.rdb.HSet(ctx, publishKeysKey, stream, enc).Err()
}
