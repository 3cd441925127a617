package checkout

import "github.com/redis/go-redis/v9"

// Client is the store's Redis client, for the node's other shared state on
// the same Redis (buyer sign-in, overlay boards, publish keys); closing the
// store closes it.
func (s *RedisStore) Client() redis.UniversalClient { return s.rdb }
