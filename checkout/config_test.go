package checkout

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigDefaultsValid(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.HoldTime = 0 }, "checkout.hold_time: must be > 0"},
		{func(c *Config) { c.LeaseMax = 1; c.LeaseMin = 2 }, "checkout.lease_max:"},
		{func(c *Config) { c.RedisURL = "http://x" }, "checkout.redis_url:"},
		{func(c *Config) { c.Payment.Provider = "stripe" }, "checkout.payment.provider:"},
		{func(c *Config) { c.SyncInterval = time.Minute }, "checkout.sync_interval:"},
		{func(c *Config) { c.RateLimitPerDevice = -1 }, "checkout.rate_limit_per_device:"},
		{func(c *Config) { c.RateLimitPerIP = 50; c.RateLimitIPBurst = 0 }, "checkout.rate_limit_ip_burst:"},
		{func(c *Config) { c.LotteryMaxEntries = 0 }, "checkout.lottery_max_entries:"},
	}
	for _, tc := range cases {
		c := Defaults()
		tc.mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, tc.want)
		}
	}
}

func TestConfigYAML(t *testing.T) {
	c := Defaults()
	if err := yaml.Unmarshal([]byte("hold_time: 90s\nredis_url: redis://127.0.0.1:6379/0\npayment: {provider: test, decline: true, delay: 250ms}\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.HoldTime != 90*time.Second || !c.Payment.Decline || c.Payment.Delay != 250*time.Millisecond || c.LeaseMax != Defaults().LeaseMax {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	err = yaml.Unmarshal(out, &back)
	if len(back.Redis.Addrs) == 0 {
		back.Redis.Addrs = nil // "addrs: []" decodes as empty, the default is nil
	}
	if err != nil || !reflect.DeepEqual(back, Defaults()) {
		t.Fatalf("round trip: %+v %v\n%s", back, err, out)
	}
}

func TestConfigRedisSection(t *testing.T) {
	cases := []struct {
		name string
		url  string
		r    RedisConfig
		want string // "" valid, else the key named
	}{
		{"none", "", RedisConfig{}, ""},
		{"url alone", "redis://127.0.0.1:6379/0", RedisConfig{}, ""},
		{"single", "", RedisConfig{Mode: RedisSingle, Addrs: []string{"r:6379"}}, ""},
		{"cluster", "", RedisConfig{Mode: RedisCluster, Addrs: []string{"a:7000", "b:7001"}}, ""},
		{"sentinel", "", RedisConfig{Mode: RedisSentinel, Addrs: []string{"s1:26379"}, MasterName: "m"}, ""},
		{"url and addrs", "redis://127.0.0.1:6379/0", RedisConfig{Mode: RedisSingle, Addrs: []string{"r:6379"}}, "checkout.redis:"},
		{"cluster without addrs", "", RedisConfig{Mode: RedisCluster}, "checkout.redis.addrs:"},
		{"sentinel without master", "", RedisConfig{Mode: RedisSentinel, Addrs: []string{"s1:26379"}}, "checkout.redis.master_name:"},
		{"bad address", "", RedisConfig{Mode: RedisCluster, Addrs: []string{"nohost"}}, "checkout.redis.addrs[0]:"},
		{"unknown mode", "", RedisConfig{Mode: "ring", Addrs: []string{"a:1"}}, "checkout.redis.mode:"},
		{"db in cluster", "", RedisConfig{Mode: RedisCluster, Addrs: []string{"a:1"}, DB: 2}, "checkout.redis.db:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.RedisURL, c.Redis.Mode, c.Redis.Addrs, c.Redis.MasterName, c.Redis.DB = tc.url, tc.r.Mode, tc.r.Addrs, tc.r.MasterName, tc.r.DB
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
