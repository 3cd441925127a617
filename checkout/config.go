package checkout

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config is the checkout section of a node's configuration (key "checkout:").
// Every key can be overridden from the environment by the node's loader.
type Config struct {
	// RedisURL selects the Redis store (redis:// or rediss://); empty selects
	// the embedded store (memory plus a journal under the data dir).
	RedisURL string `yaml:"redis_url"`
	// Redis names a Redis by addresses instead: one, a cluster, or a master
	// watched by Sentinel (see RedisConfig).
	Redis RedisConfig `yaml:"redis"`
	// HoldTime is how long an order waits for a confirmed payment before it
	// is cancelled and its units go back to the drop.
	HoldTime time.Duration `yaml:"hold_time"`
	// LeaseMin and LeaseMax bound the units an edge asks for in one lease.
	LeaseMin int `yaml:"lease_min"`
	LeaseMax int `yaml:"lease_max"`
	// LeaseWindow is how many seconds of the edge's selling rate a lease covers.
	LeaseWindow time.Duration `yaml:"lease_window"`
	// LeaseTTL is how long a lease lives without a renewal; an edge that dies
	// loses its unsold units back to the drop after it.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// DirectThreshold: when a SKU's free units fall to this number, edges stop
	// leasing and sell straight against the store.
	DirectThreshold int `yaml:"direct_threshold"`
	// SyncInterval is how often an edge refreshes drop state and refills leases.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// HeldWait is how long a direct sale waits for units other edges still
	// hold before it answers "held, try again" (503 with Retry-After); never
	// "sold out" while units may come back.
	HeldWait time.Duration `yaml:"held_wait"`
	// ReapInterval is how often the control side cancels expired holds and
	// reclaims expired leases.
	ReapInterval time.Duration `yaml:"reap_interval"`
	// RateLimitPerBuyer is orders per second per buyer at one edge; 0 disables.
	RateLimitPerBuyer float64 `yaml:"rate_limit_per_buyer"`
	// RateLimitBurst is the burst of the per-buyer and per-device limiters.
	RateLimitBurst int `yaml:"rate_limit_burst"`
	// RateLimitPerDevice is orders per second per device (the buyer
	// session's device id) at one edge; 0 disables.
	RateLimitPerDevice float64 `yaml:"rate_limit_per_device"`
	// RateLimitPerIP is orders per second per client address at one edge,
	// with its own burst; 0 (the default) disables: a venue's Wi-Fi is one
	// address for hundreds of buyers, so set it generously if at all.
	RateLimitPerIP   float64 `yaml:"rate_limit_per_ip"`
	RateLimitIPBurst int     `yaml:"rate_limit_ip_burst"`
	// StoreTimeout bounds one store call.
	StoreTimeout time.Duration `yaml:"store_timeout"`
	// LocalFirst keeps an edge ready (/readyz 200, saying so) while its
	// store is unreachable: it sells from its leases and ships the orders
	// once the store is back. Off: the edge is not ready without its store.
	LocalFirst bool `yaml:"local_first"`
	// JournalCheckpointBytes: once an edge's order journal holds this many
	// bytes since its last checkpoint, the edge writes a new checkpoint and
	// removes the journal it covers (about 160 bytes per order).
	JournalCheckpointBytes int64 `yaml:"journal_checkpoint_bytes"`
	// LotteryMaxEntries bounds the entries of one drop's opening lottery
	// (memory and the draw's time): orders past it are answered sold out.
	LotteryMaxEntries int `yaml:"lottery_max_entries"`
	// Payment selects the payment provider.
	Payment PaymentConfig `yaml:"payment"`
	// JournalPreallocBytes keeps this many zeroed bytes ahead of an edge's
	// order journal, so that a commit's fdatasync writes no filesystem
	// metadata (faster, and not behind other processes' metadata on a
	// shared disk); 0 turns it off (fsync of a growing file).
	JournalPreallocBytes int64 `yaml:"journal_prealloc_bytes"`
}

// PaymentConfig selects and tunes the payment provider.
type PaymentConfig struct {
	// Provider is "test" (the built-in test provider); the only one for now.
	Provider string `yaml:"provider"`
	// Decline makes the test provider decline every authorization.
	Decline bool `yaml:"decline"`
	// Delay makes the test provider slow: each call takes this long.
	Delay time.Duration `yaml:"delay"`
	// Workers is how many payments an edge runs at once.
	Workers int `yaml:"workers"`
}

// UsesRedis reports whether the configuration names a Redis (redis_url or
// redis.addrs); otherwise the embedded store is used.
func (c Config) UsesRedis() bool { return c.RedisURL != "" || c.Redis.Used() }

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		HoldTime:               10 * time.Minute,
		LeaseMin:               5,
		LeaseMax:               500,
		LeaseWindow:            2 * time.Second,
		LeaseTTL:               30 * time.Second,
		DirectThreshold:        20,
		SyncInterval:           100 * time.Millisecond,
		HeldWait:               100 * time.Millisecond,
		ReapInterval:           time.Second,
		RateLimitPerBuyer:      5,
		RateLimitBurst:         10,
		RateLimitPerDevice:     5,
		RateLimitIPBurst:       200,
		StoreTimeout:           2 * time.Second,
		Redis:                  RedisConfig{WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond},
		JournalCheckpointBytes: 8 << 20,
		Payment:                PaymentConfig{Provider: "test", Workers: 16},
		LotteryMaxEntries:      100_000,
		JournalPreallocBytes:   1 << 20,
	}
}

// Validate checks every key; errors name the key as "checkout.<key>".
func (c Config) Validate() error {
	var errs []error
	bad := func(key, msg string) { errs = append(errs, fmt.Errorf("checkout.%s: %s", key, msg)) }
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			bad("redis_url", "must be a redis:// or rediss:// URL with a host")
		}
	}
	c.Redis.validate(bad, c.RedisURL != "")
	if c.HoldTime <= 0 {
		bad("hold_time", "must be > 0")
	}
	if c.LeaseMin < 1 {
		bad("lease_min", "must be >= 1")
	}
	if c.LeaseMax < c.LeaseMin {
		bad("lease_max", "must be >= lease_min")
	}
	if c.LeaseWindow <= 0 {
		bad("lease_window", "must be > 0")
	}
	if c.LeaseTTL < time.Second {
		bad("lease_ttl", "must be >= 1s")
	}
	if c.DirectThreshold < 0 {
		bad("direct_threshold", "must be >= 0")
	}
	if c.SyncInterval <= 0 || c.SyncInterval*3 > c.LeaseTTL {
		bad("sync_interval", "must be > 0 and at most a third of lease_ttl")
	}
	if c.HeldWait < 0 {
		bad("held_wait", "must be >= 0")
	}
	if c.ReapInterval <= 0 {
		bad("reap_interval", "must be > 0")
	}
	if c.RateLimitPerBuyer < 0 {
		bad("rate_limit_per_buyer", "must be >= 0 (0 disables)")
	}
	if c.RateLimitPerBuyer > 0 && c.RateLimitBurst < 1 {
		bad("rate_limit_burst", "must be >= 1 when rate_limit_per_buyer is set")
	}
	if c.RateLimitPerDevice < 0 {
		bad("rate_limit_per_device", "must be >= 0 (0 disables)")
	}
	if c.RateLimitPerDevice > 0 && c.RateLimitBurst < 1 {
		bad("rate_limit_burst", "must be >= 1 when rate_limit_per_device is set")
	}
	if c.RateLimitPerIP < 0 {
		bad("rate_limit_per_ip", "must be >= 0 (0 disables)")
	}
	if c.RateLimitPerIP > 0 && c.RateLimitIPBurst < 1 {
		bad("rate_limit_ip_burst", "must be >= 1 when rate_limit_per_ip is set")
	}
	if c.StoreTimeout <= 0 {
		bad("store_timeout", "must be > 0")
	}
	if c.JournalCheckpointBytes < 1024 {
		bad("journal_checkpoint_bytes", "must be >= 1024")
	}
	if c.LotteryMaxEntries < 1 || c.LotteryMaxEntries > MaxLotteryEntries {
		bad("lottery_max_entries", fmt.Sprintf("must be 1-%d", MaxLotteryEntries))
	}
	if c.Payment.Provider != "test" {
		bad("payment.provider", `must be "test"`)
	}
	if c.Payment.Delay < 0 {
		bad("payment.delay", "must be >= 0")
	}
	if c.Payment.Workers < 1 {
		bad("payment.workers", "must be >= 1")
	}
	if c.JournalPreallocBytes != 0 && (c.JournalPreallocBytes < 64<<10 || c.JournalPreallocBytes > 1<<30) {
		bad("journal_prealloc_bytes", "must be 0 (off) or 65536-1073741824")
	}
	return errors.Join(errs...)
}
