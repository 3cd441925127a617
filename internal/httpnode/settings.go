package httpnode

import (
	"errors"
	"fmt"
	"time"
)

// Settings are the keys every node has, embedded inline in each node's
// configuration.
type Settings struct {
	// ShutdownGrace bounds the drain on SIGTERM.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`

	// HTTPReadHeaderTimeout bounds reading a request's headers.
	HTTPReadHeaderTimeout time.Duration `yaml:"http_read_header_timeout"`
	// HTTPReadTimeout bounds reading a whole request, body included: a
	// client that trickles its body is cut off after it.
	HTTPReadTimeout time.Duration `yaml:"http_read_timeout"`
	// HTTPWriteTimeout bounds writing a response (from the end of the
	// request's headers). WebSockets are not cut by it.
	HTTPWriteTimeout time.Duration `yaml:"http_write_timeout"`
	// HTTPIdleTimeout closes a kept-alive connection idle this long.
	HTTPIdleTimeout time.Duration `yaml:"http_idle_timeout"`
	// HTTPMaxHeaderBytes bounds a request's headers.
	HTTPMaxHeaderBytes int `yaml:"http_max_header_bytes"`

	// TLSCertFile and TLSKeyFile, when both set, make the node serve HTTPS
	// with this PEM certificate (chain) and key.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// DefaultSettings returns the defaults.
func DefaultSettings() Settings {
	return Settings{
		ShutdownGrace:         10 * time.Second,
		LogLevel:              "info",
		HTTPReadHeaderTimeout: 10 * time.Second,
		HTTPReadTimeout:       30 * time.Second,
		HTTPWriteTimeout:      30 * time.Second,
		HTTPIdleTimeout:       120 * time.Second,
		HTTPMaxHeaderBytes:    64 << 10,
	}
}

// withDefaults fills the HTTP keys left zero (a caller that built Settings
// by hand) with the defaults.
func (s Settings) withDefaults() Settings {
	d := DefaultSettings()
	if s.HTTPReadHeaderTimeout == 0 {
		s.HTTPReadHeaderTimeout = d.HTTPReadHeaderTimeout
	}
	if s.HTTPReadTimeout == 0 {
		s.HTTPReadTimeout = d.HTTPReadTimeout
	}
	if s.HTTPWriteTimeout == 0 {
		s.HTTPWriteTimeout = d.HTTPWriteTimeout
	}
	if s.HTTPIdleTimeout == 0 {
		s.HTTPIdleTimeout = d.HTTPIdleTimeout
	}
	if s.HTTPMaxHeaderBytes == 0 {
		s.HTTPMaxHeaderBytes = d.HTTPMaxHeaderBytes
	}
	return s
}

// Validate checks the settings; errors name the YAML key.
func (s Settings) Validate() error {
	if s.ShutdownGrace <= 0 {
		return errors.New("shutdown_grace: must be > 0")
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q is not debug, info, warn or error", s.LogLevel)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"http_read_header_timeout", s.HTTPReadHeaderTimeout},
		{"http_read_timeout", s.HTTPReadTimeout},
		{"http_write_timeout", s.HTTPWriteTimeout},
		{"http_idle_timeout", s.HTTPIdleTimeout},
	} {
		if d.v <= 0 || d.v > time.Hour {
			return fmt.Errorf("%s: %v must be between 0 and 1h (0 excluded)", d.key, d.v)
		}
	}
	if s.HTTPReadHeaderTimeout > s.HTTPReadTimeout {
		return fmt.Errorf("http_read_header_timeout: %v must not exceed http_read_timeout (%v)", s.HTTPReadHeaderTimeout, s.HTTPReadTimeout)
	}
	if s.HTTPMaxHeaderBytes < 4<<10 || s.HTTPMaxHeaderBytes > 1<<20 {
		return fmt.Errorf("http_max_header_bytes: %d must be between 4096 and 1048576", s.HTTPMaxHeaderBytes)
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return errors.New("tls_cert_file, tls_key_file: set both or neither")
	}
	return nil
}
