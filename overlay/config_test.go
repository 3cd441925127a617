package overlay

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Config)
		key   string
		valid bool
	}{
		{"region currency with rates", func(c *Config) { c.Currency = "USD"; c.Rates = map[string]float64{"EUR": 1.08} }, "", true},
		{"allowed origins", func(c *Config) {
			c.WebSocket.AllowedOrigins = []string{"https://shop.example.com", "http://localhost:3000/"}
		}, "", true},
		{"buffer", func(c *Config) { c.SubscriberBuffer = 1 }, "overlay.subscriber_buffer", false},
		{"stock rate", func(c *Config) { c.StockUpdatesPerSecond = 0 }, "overlay.stock_updates_per_second", false},
		{"poll", func(c *Config) { c.PollInterval = time.Millisecond }, "overlay.poll_interval", false},
		{"max overlays", func(c *Config) { c.MaxOverlays = 0 }, "overlay.max_overlays", false},
		{"currency", func(c *Config) { c.Currency = "eur" }, "overlay.currency", false},
		{"rate key", func(c *Config) { c.Rates = map[string]float64{"euro": 1} }, "overlay.rates", false},
		{"rate value", func(c *Config) { c.Rates = map[string]float64{"EUR": -1} }, "overlay.rates.EUR", false},
		{"wildcard origin", func(c *Config) { c.WebSocket.AllowedOrigins = []string{"*"} }, "overlay.websocket.allowed_origins[0]", false},
		{"origin with path", func(c *Config) { c.WebSocket.AllowedOrigins = []string{"https://a.example/x"} }, "overlay.websocket.allowed_origins[0]", false},
		{"read limit", func(c *Config) { c.WebSocket.ReadLimit = 0 }, "overlay.websocket.read_limit", false},
		{"ping", func(c *Config) { c.WebSocket.PingInterval = 0 }, "overlay.websocket.ping_interval", false},
		{"write timeout", func(c *Config) { c.WebSocket.WriteTimeout = 0 }, "overlay.websocket.write_timeout", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.edit(&c)
			err := c.Validate()
			if tc.valid {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.key+":") {
				t.Fatalf("error %v does not name %s", err, tc.key)
			}
		})
	}
}
