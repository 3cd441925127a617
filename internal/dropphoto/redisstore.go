package dropphoto

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps photos on the checkout store's Redis, one hash per drop
// in the drop's hash tag. It does not close the client.
type RedisStore struct{ rdb redis.UniversalClient }

var _ Store = (*RedisStore)(nil)

// NewRedisStore keeps photos in rdb.
func NewRedisStore(rdb redis.UniversalClient) *RedisStore { return &RedisStore{rdb: rdb} }

func photoKey(drop string) string { return "{drop:" + drop + "}:photo" }

// Put implements Store.
func (s *RedisStore) Put(ctx context.Context, drop string, p Photo) error {
	if err := s.rdb.HSet(ctx, photoKey(drop), "type", p.Type, "etag", p.ETag, "data", p.Data).Err(); err != nil {
		return fmt.Errorf("store photo: %w", err)
	}
	return nil
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, drop string) (Photo, error) {
	m, err := s.rdb.HGetAll(ctx, photoKey(drop)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Photo{}, fmt.Errorf("read photo: %w", err)
	}
	if len(m) == 0 {
		return Photo{}, ErrNotFound
	}
	return Photo{Type: m["type"], ETag: m["etag"], Data: []byte(m["data"])}, nil
}

// Delete implements Store.
func (s *RedisStore) Delete(ctx context.Context, drop string) error {
	n, err := s.rdb.Del(ctx, photoKey(drop)).Result()
	if err != nil {
		return fmt.Errorf("delete photo: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
