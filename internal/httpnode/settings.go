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
}

// DefaultSettings returns the defaults.
func DefaultSettings() Settings {
	return Settings{ShutdownGrace: 10 * time.Second, LogLevel: "info"}
}

// Validate checks the settings; errors name the YAML key.
func (s Settings) Validate() error {
	if s.ShutdownGrace <= 0 {
		return errors.New("shutdown_grace: must be > 0")
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf("log_level: %q is not debug, info, warn or error", s.LogLevel)
}
