package buyer

import (
	"errors"
	"fmt"
	"time"
)

// MinSecretLen is the shortest session secret accepted.
const MinSecretLen = 16

// Config is the sign-in and session settings of an edge (the buyer: block).
type Config struct {
	// SessionSecrets sign and verify buyer sessions (HS256), shared by
	// every edge. The first signs; every one verifies, so a secret is
	// rotated by adding the new one second, moving it first on every
	// edge, then dropping the old one once session_ttl has passed.
	SessionSecrets []string `yaml:"session_secrets"`
	// SessionTTL is how long a session lasts before the buyer signs in again.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// Guest lets buyers continue without an email, as a guest bound to
	// their device.
	Guest bool `yaml:"guest"`
	// GuestsPerIP is the guest sessions one client address may start at
	// an edge at once (a token bucket's size), refilled at GuestRefill per
	// second; 0 = no limit. A venue's Wi-Fi is one address: keep it above
	// the crowd that signs in when a drop opens.
	GuestsPerIP int     `yaml:"guests_per_ip"`
	GuestRefill float64 `yaml:"guest_refill_per_s"`
	// CodeTTL is how long an emailed code may be entered.
	CodeTTL time.Duration `yaml:"code_ttl"`
	// CodeMaxAttempts wrong codes for one email lock it for CodeLockout.
	CodeMaxAttempts int           `yaml:"code_max_attempts"`
	CodeLockout     time.Duration `yaml:"code_lockout"`
	// SendsPerEmail and SendsPerIP bound the codes sent per SendWindow
	// to one email and from one client address, across every edge.
	SendsPerEmail int           `yaml:"sends_per_email"`
	SendsPerIP    int           `yaml:"sends_per_ip"`
	SendWindow    time.Duration `yaml:"send_window"`
}

// Defaults returns the defaults the shipped configs hold (no secret: an
// edge taking orders refuses to start until one is set).
func Defaults() Config {
	return Config{
		SessionSecrets:  []string{},
		SessionTTL:      24 * time.Hour,
		Guest:           true,
		GuestsPerIP:     3000,
		GuestRefill:     20,
		CodeTTL:         10 * time.Minute,
		CodeMaxAttempts: 5,
		CodeLockout:     15 * time.Minute,
		SendsPerEmail:   5,
		SendsPerIP:      30,
		SendWindow:      time.Hour,
	}
}

// Validate checks the block; errors name the key under buyer.
func (c *Config) Validate() error {
	for i, s := range c.SessionSecrets {
		if len(s) < MinSecretLen {
			return fmt.Errorf("buyer.session_secrets[%d]: must be at least %d characters", i, MinSecretLen)
		}
	}
	switch {
	case c.SessionTTL < time.Minute:
		return errors.New("buyer.session_ttl: must be at least 1m")
	case c.CodeTTL < 30*time.Second || c.CodeTTL > time.Hour:
		return errors.New("buyer.code_ttl: must be 30s to 1h")
	case c.CodeMaxAttempts < 1 || c.CodeMaxAttempts > 20:
		return errors.New("buyer.code_max_attempts: must be 1-20")
	case c.CodeLockout < time.Second:
		return errors.New("buyer.code_lockout: must be at least 1s")
	case c.SendsPerEmail < 1:
		return errors.New("buyer.sends_per_email: must be at least 1")
	case c.SendsPerIP < 1:
		return errors.New("buyer.sends_per_ip: must be at least 1")
	case c.GuestsPerIP < 0:
		return errors.New("buyer.guests_per_ip: must be 0 (no limit) or more")
	case c.GuestsPerIP > 0 && (c.GuestRefill <= 0 || c.GuestRefill > 10_000):
		return errors.New("buyer.guest_refill_per_s: must be above 0 and at most 10000 when guests_per_ip is set")
	case c.SendWindow < time.Second:
		return errors.New("buyer.send_window: must be at least 1s")
	}
	return nil
}

// RequireSecrets is the check of a node that takes orders: buyers need
// sessions there.
func (c *Config) RequireSecrets() error {
	if len(c.SessionSecrets) == 0 {
		return fmt.Errorf("buyer.session_secrets: empty; orders need buyer sessions: set LIVEDROP_SESSION_SECRET (%d+ characters, the same on every edge)", MinSecretLen)
	}
	return nil
}
