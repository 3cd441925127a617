package checkout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis deployments the store runs on.
const (
	RedisSingle   = "single"
	RedisCluster  = "cluster"
	RedisSentinel = "sentinel"
)

// RedisConfig selects a Redis deployment by its addresses (key
// "checkout.redis"): one Redis, a Redis Cluster (any of its nodes; keys of
// one drop share a hash tag, so each script runs on one slot) or a master
// watched by Sentinel (the sentinels' addresses and the master's name).
// checkout.redis_url stays the way to name one Redis.
type RedisConfig struct {
	// Mode is single, cluster or sentinel; empty with no addrs: not used.
	Mode string `yaml:"mode"`
	// Addrs are host:port of the Redis (single), seed nodes (cluster) or
	// sentinels (sentinel).
	Addrs []string `yaml:"addrs"`
	// MasterName is the master the sentinels watch (sentinel mode).
	MasterName string `yaml:"master_name"`
	Username   string `yaml:"username"`
	Password   string `yaml:"password"`
	// SentinelPassword authenticates to the sentinels, if they ask.
	SentinelPassword string `yaml:"sentinel_password"`
	DB               int    `yaml:"db"`
	TLS              bool   `yaml:"tls"`
	// WaitReplicas: after each write the store waits (WAIT) until this many
	// replicas have it, so a failover that promotes a replica keeps every
	// write the store acknowledged. 0 waits for none. Default: 1 in cluster
	// and sentinel modes.
	WaitReplicas int `yaml:"wait_replicas"`
	// WaitTimeout bounds that wait; a write not replicated in time fails as
	// unavailable and is retried (every write is idempotent).
	WaitTimeout time.Duration `yaml:"wait_timeout"`
}

// Used reports whether the section selects a Redis.
func (c RedisConfig) Used() bool { return c.Mode != "" || len(c.Addrs) > 0 }

func (c RedisConfig) validate(bad func(key, msg string), urlSet bool) {
	if !c.Used() {
		return
	}
	if urlSet {
		bad("redis", "set either redis_url or redis.addrs, not both")
	}
	switch c.Mode {
	case "", RedisSingle:
		if len(c.Addrs) != 1 {
			bad("redis.addrs", "single mode takes exactly one host:port")
		}
	case RedisCluster:
		if len(c.Addrs) == 0 {
			bad("redis.addrs", "cluster mode needs at least one node's host:port")
		}
	case RedisSentinel:
		if len(c.Addrs) == 0 {
			bad("redis.addrs", "sentinel mode needs the sentinels' host:port")
		}
		if c.MasterName == "" {
			bad("redis.master_name", "sentinel mode needs the master's name")
		}
	default:
		bad("redis.mode", `must be "single", "cluster" or "sentinel"`)
	}
	for i, a := range c.Addrs {
		if h, p, err := net.SplitHostPort(a); err != nil || h == "" || p == "" {
			bad(fmt.Sprintf("redis.addrs[%d]", i), "must be host:port")
		}
	}
	if c.DB < 0 || (c.DB != 0 && c.Mode == RedisCluster) {
		bad("redis.db", "must be >= 0, and 0 in cluster mode")
	}
	if c.WaitReplicas < 0 {
		bad("redis.wait_replicas", "must be >= 0")
	}
	if c.WaitTimeout < 0 {
		bad("redis.wait_timeout", "must be >= 0")
	}
}

// redisTuning is what every client of the store is given: short dials and
// reads, so a dead Redis makes calls fail (ErrUnavailable) quickly instead
// of holding orders.
const (
	redisDialTimeout = time.Second
	redisRWTimeout   = 2 * time.Second
	redisPoolSize    = 64
)

// NewRedisClient builds the client cfg names: redis_url, or the redis
// section's single, cluster or sentinel deployment. In cluster and sentinel
// modes each write is followed by WAIT (see RedisConfig.WaitReplicas).
func NewRedisClient(cfg Config) (redis.UniversalClient, error) {
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("checkout.redis_url: %w", err)
		}
		tuneOptions(opt)
		return redis.NewClient(opt), nil
	}
	rc := cfg.Redis
	if !rc.Used() {
		return nil, fmt.Errorf("checkout: no redis_url nor redis.addrs: %w", ErrInvalid)
	}
	var tlsCfg *tls.Config
	if rc.TLS {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	wait := rc.WaitReplicas
	timeout := rc.WaitTimeout
	if timeout == 0 {
		timeout = 500 * time.Millisecond
	}
	switch rc.Mode {
	case RedisCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: rc.Addrs, Username: rc.Username, Password: rc.Password, TLSConfig: tlsCfg,
			DialTimeout: redisDialTimeout, ReadTimeout: redisRWTimeout, WriteTimeout: redisRWTimeout,
			PoolSize: redisPoolSize, MaxRetries: 1, ContextTimeoutEnabled: true,
			// A failover moves slots: follow MOVED/ASK a few times.
			MaxRedirects: 8,
			// Every node's client, from the first, gets the WAIT hook.
			NewClient: func(opt *redis.Options) *redis.Client {
				node := redis.NewClient(opt)
				if wait > 0 {
					node.AddHook(replicaWait{node: node, n: wait, timeout: timeout})
				}
				return node
			},
		}), nil
	case RedisSentinel:
		c := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: rc.MasterName, SentinelAddrs: rc.Addrs, SentinelPassword: rc.SentinelPassword,
			Username: rc.Username, Password: rc.Password, DB: rc.DB, TLSConfig: tlsCfg,
			DialTimeout: redisDialTimeout, ReadTimeout: redisRWTimeout, WriteTimeout: redisRWTimeout,
			PoolSize: redisPoolSize, MaxRetries: 1, ContextTimeoutEnabled: true,
		})
		if wait > 0 {
			c.AddHook(replicaWait{node: c, n: wait, timeout: timeout})
		}
		return c, nil
	default:
		opt := &redis.Options{Addr: rc.Addrs[0], Username: rc.Username, Password: rc.Password, DB: rc.DB, TLSConfig: tlsCfg}
		tuneOptions(opt)
		c := redis.NewClient(opt)
		if wait > 0 {
			c.AddHook(replicaWait{node: c, n: wait, timeout: timeout})
		}
		return c, nil
	}
}

func tuneOptions(opt *redis.Options) {
	opt.DialTimeout = redisDialTimeout
	opt.ReadTimeout = redisRWTimeout
	opt.WriteTimeout = redisRWTimeout
	opt.MaxRetries = 1
	opt.PoolSize = redisPoolSize
	opt.ContextTimeoutEnabled = true
}

// OpenRedisStoreFor opens the Redis store cfg names (see NewRedisClient). An
// unreachable Redis is not an error, as for OpenRedisStore.
func OpenRedisStoreFor(ctx context.Context, cfg Config, logger *slog.Logger) (*RedisStore, error) {
	rdb, err := NewRedisClient(cfg)
	if err != nil {
		return nil, err
	}
	s := NewRedisStore(rdb, logger.With("component", "checkout-redis"))
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		s.logger.Warn("redis not reachable yet", "mode", cfg.Redis.Mode, "addrs", cfg.Redis.Addrs, "err", err)
	}
	return s, nil
}

// ErrNotReplicated says a write reached the master but not WaitReplicas
// replicas in time: it may be lost in a failover, so it counts as failed
// (unavailable) and is retried; every store write is idempotent.
var ErrNotReplicated = errors.New("redis write not replicated in time")

// replicaWait is a hook on one node's client: each command or pipeline
// that writes is sent with a WAIT after it on the same connection, and a
// WAIT that saw fewer than n replicas fails the writes.
type replicaWait struct {
	node    *redis.Client
	n       int
	timeout time.Duration
}

func (h replicaWait) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h replicaWait) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !writes(cmd) {
			return next(ctx, cmd)
		}
		// Through a pipeline, so the WAIT shares the write's connection.
		_, err := h.node.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Process(ctx, cmd) })
		if err != nil && cmd.Err() == nil {
			cmd.SetErr(err)
		}
		return cmd.Err()
	}
}

func (h replicaWait) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		w := false
		for _, c := range cmds {
			w = w || writes(c)
		}
		if !w {
			return next(ctx, cmds)
		}
		// WAIT covers the connection's last write. A script that only
		// answered from an earlier write (a retried lease operation returns
		// its first answer) writes nothing, so a write beside it on the same
		// slot makes WAIT cover everything the master had by then.
		all := cmds
		if tag := scriptTag(cmds); tag != "" {
			all = append(all, redis.NewStatusCmd(ctx, "set", tag+":replicated", "1", "px", 60000))
		}
		wait := redis.NewIntCmd(ctx, "wait", h.n, h.timeout.Milliseconds())
		err := next(ctx, append(all, wait))
		if err == nil && wait.Err() == nil && wait.Val() < int64(h.n) {
			err = fmt.Errorf("%w: %d of %d replicas", ErrNotReplicated, wait.Val(), h.n)
		}
		if err == nil {
			err = wait.Err()
		}
		if err != nil {
			for _, c := range cmds {
				if c.Err() == nil {
					c.SetErr(err)
				}
			}
		}
		return err
	}
}

// scriptTag returns the hash tag ("{drop:ID}") of the first key of the
// first script in cmds, or "".
func scriptTag(cmds []redis.Cmder) string {
	for _, c := range cmds {
		if n := strings.ToLower(c.Name()); n != "evalsha" && n != "eval" {
			continue
		}
		args := c.Args() // evalsha sha numkeys key...
		if len(args) < 4 {
			continue
		}
		key, _ := args[3].(string)
		if strings.HasPrefix(key, "{") {
			if i := strings.IndexByte(key, '}'); i > 1 {
				return key[:i+1]
			}
		}
	}
	return ""
}

// writes reports whether cmd may change data: scripts and the few plain
// writes the store sends.
func writes(cmd redis.Cmder) bool {
	switch strings.ToLower(cmd.Name()) {
	case "evalsha", "eval", "sadd", "srem", "hset", "hdel", "del", "set", "xadd", "zadd", "zrem", "hincrby", "expire":
		return true
	}
	return false
}

// Client is the store's Redis client, for the node's other shared state on
// the same Redis (buyer sign-in, overlay boards, publish keys); closing the
// store closes it.
func (s *RedisStore) Client() redis.UniversalClient { return s.rdb }
