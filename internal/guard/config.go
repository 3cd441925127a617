package guard

import (
	"errors"
	"fmt"
	"time"
)

// Config is a guard's budget; the YAML keys live under a node's auth_guard.
type Config struct {
	// MaxFailures wrong answers from one client address within Window lock
	// that address out.
	MaxFailures int `yaml:"max_failures"`
	// AccountMaxFailures wrong answers for one account (user name, stream,
	// "control") within Window, from any address, lock the account out for
	// every address that has not succeeded on it lately.
	AccountMaxFailures int `yaml:"account_max_failures"`
	// Window is the span failures are counted over.
	Window time.Duration `yaml:"window"`
	// Lockout is the first lockout; each further one in a row doubles, up
	// to MaxLockout.
	Lockout    time.Duration `yaml:"lockout"`
	MaxLockout time.Duration `yaml:"max_lockout"`
	// MaxEntries bounds the addresses and accounts remembered; past it the
	// idlest entry is forgotten first.
	MaxEntries int `yaml:"max_entries"`
	// LogWindow: the first failure of a window is logged, the others are
	// counted and reported in one line.
	LogWindow time.Duration `yaml:"log_window"`
}

// Defaults returns the defaults the shipped configs hold.
func Defaults() Config {
	return Config{
		MaxFailures:        10,
		AccountMaxFailures: 50,
		Window:             time.Minute,
		Lockout:            time.Minute,
		MaxLockout:         time.Hour,
		MaxEntries:         10000,
		LogWindow:          time.Minute,
	}
}

// Validate checks the budget; errors name the key under auth_guard.
func (c Config) Validate() error {
	switch {
	case c.MaxFailures < 1:
		return errors.New("auth_guard.max_failures: must be at least 1")
	case c.AccountMaxFailures < 1:
		return errors.New("auth_guard.account_max_failures: must be at least 1")
	case c.Window <= 0:
		return errors.New("auth_guard.window: must be positive")
	case c.Lockout <= 0:
		return errors.New("auth_guard.lockout: must be positive")
	case c.MaxLockout < c.Lockout:
		return fmt.Errorf("auth_guard.max_lockout: %v is shorter than lockout %v", c.MaxLockout, c.Lockout)
	case c.MaxEntries < 2:
		return errors.New("auth_guard.max_entries: must be at least 2")
	case c.LogWindow <= 0:
		return errors.New("auth_guard.log_window: must be positive")
	}
	return nil
}
