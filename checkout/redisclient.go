package checkout

import "github.com/redis/go-redis/v9"

// Client is the store's Redis client, for the node's other shared state
// (the overlay boards) on the same Redis.
func (s *RedisStore) Client() redis.UniversalClient { return s.rdb }
