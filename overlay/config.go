package overlay

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Config is the overlay section of a node's configuration (key "overlay:").
// The origin and the edge share it; each reads the keys that concern it.
type Config struct {
	// SubscriberBuffer is how many messages wait for one subscriber; when
	// they are full, the queue is dropped and replaced by a fresh state.
	SubscriberBuffer int `yaml:"subscriber_buffer"`
	// StockUpdatesPerSecond caps the stock messages of a stream at an edge;
	// the last value is always sent.
	StockUpdatesPerSecond float64 `yaml:"stock_updates_per_second"`
	// PollInterval is how often the origin reads the state and stock of the
	// drops its overlays show (a safety net beside NotifyDropState), and
	// expires countdowns.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxOverlays bounds the active overlays of one stream at the origin.
	MaxOverlays int `yaml:"max_overlays"`
	// CountdownLinger is how long a countdown stays after it reaches zero
	// before the origin removes it.
	CountdownLinger time.Duration `yaml:"countdown_linger"`
	// Currency is the edge's region currency (3 upper-case letters); empty
	// keeps the seller's price and currency.
	Currency string `yaml:"currency"`
	// Rates converts a seller currency into Currency: units of Currency per
	// unit of the seller's (EUR: 160 for JPY), minor units allowed for
	// (€25.00 is ¥4,000). A price in a currency with no rate is shown as the
	// seller set it.
	Rates map[string]float64 `yaml:"rates"`
	// WebSocket tunes GET /v1/streams/{stream}/events.
	WebSocket WebSocketConfig `yaml:"websocket"`
}

// WebSocketConfig tunes the events WebSocket.
type WebSocketConfig struct {
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed
	// besides the node's own; a request without Origin (not a browser) is
	// allowed.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// ReadLimit bounds one client message; a larger one closes that socket
	// with code 1009.
	ReadLimit int64 `yaml:"read_limit"`
	// PingInterval is how often the server pings; a client silent for two
	// intervals is dropped.
	PingInterval time.Duration `yaml:"ping_interval"`
	// WriteTimeout bounds one write to a client.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxConns bounds the node's open event sockets (503 beyond it), and
	// MaxConnsPerIP one address's (429 beyond it).
	MaxConns      int `yaml:"max_conns"`
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		SubscriberBuffer:      64,
		StockUpdatesPerSecond: 4,
		PollInterval:          500 * time.Millisecond,
		MaxOverlays:           16,
		CountdownLinger:       10 * time.Second,
		Rates:                 map[string]float64{},
		WebSocket: WebSocketConfig{
			AllowedOrigins: []string{},
			ReadLimit:      4 << 10,
			PingInterval:   20 * time.Second,
			WriteTimeout:   5 * time.Second,
			MaxConns:       20000,
			MaxConnsPerIP:  16,
		},
	}
}

// Validate checks every key; errors name the key as "overlay.<key>".
func (c Config) Validate() error {
	var errs []error
	bad := func(key, msg string) { errs = append(errs, fmt.Errorf("overlay.%s: %s", key, msg)) }
	if c.SubscriberBuffer < 2 || c.SubscriberBuffer > 4096 {
		bad("subscriber_buffer", "must be 2-4096")
	}
	if !(c.StockUpdatesPerSecond > 0 && c.StockUpdatesPerSecond <= 100) {
		bad("stock_updates_per_second", "must be > 0 and <= 100")
	}
	if c.PollInterval < 10*time.Millisecond {
		bad("poll_interval", "must be >= 10ms")
	}
	if c.MaxOverlays < 1 || c.MaxOverlays > MaxStateOverlays {
		bad("max_overlays", fmt.Sprintf("must be 1-%d", MaxStateOverlays))
	}
	if c.CountdownLinger < 0 {
		bad("countdown_linger", "must be >= 0")
	}
	if c.Currency != "" && !validCurrency(c.Currency) {
		bad("currency", "must be empty or 3 upper-case letters (ISO 4217)")
	}
	for _, k := range sortedKeys(c.Rates) {
		v := c.Rates[k]
		if !validCurrency(k) {
			bad("rates", fmt.Sprintf("key %q must be 3 upper-case letters", k))
		}
		if !(v > 0) || math.IsInf(v, 0) || v > 1e6 {
			bad("rates."+k, "must be a number > 0")
		}
	}
	for i, o := range c.WebSocket.AllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			bad(fmt.Sprintf("websocket.allowed_origins[%d]", i), err.Error())
		}
	}
	if c.WebSocket.MaxConns < 1 {
		bad("websocket.max_conns", "must be >= 1")
	}
	if c.WebSocket.MaxConnsPerIP < 1 || c.WebSocket.MaxConnsPerIP > c.WebSocket.MaxConns {
		bad("websocket.max_conns_per_ip", "must be between 1 and websocket.max_conns")
	}
	if c.WebSocket.ReadLimit < 64 || c.WebSocket.ReadLimit > 1<<20 {
		bad("websocket.read_limit", "must be 64-1048576 bytes")
	}
	if c.WebSocket.PingInterval < 100*time.Millisecond {
		bad("websocket.ping_interval", "must be >= 100ms")
	}
	if c.WebSocket.WriteTimeout < 10*time.Millisecond {
		bad("websocket.write_timeout", "must be >= 10ms")
	}
	return errors.Join(errs...)
}

// stockInterval is the shortest gap between two stock flushes of a stream.
func (c Config) stockInterval() time.Duration {
	return time.Duration(float64(time.Second) / c.StockUpdatesPerSecond)
}

// NormalizedOrigins returns the allowed origins as lower-case
// scheme://host[:port], for comparison with a request's Origin header.
func (c WebSocketConfig) NormalizedOrigins() []string {
	out := make([]string, 0, len(c.AllowedOrigins))
	for _, o := range c.AllowedOrigins {
		if n, err := normalizeOrigin(o); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// normalizeOrigin checks that s is an origin (http or https, a host, nothing
// after it) and returns it in lower case without a trailing slash.
func normalizeOrigin(s string) (string, error) {
	if s == "*" || s == "" {
		return "", errors.New("must be an origin such as https://shop.example.com (no wildcard)")
	}
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(u.Host, "*") {
		return "", fmt.Errorf("%q must be scheme://host[:port] with scheme http or https", s)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
