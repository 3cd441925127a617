package pickup

import (
	"fmt"
	"time"
)

// MailConfig bounds the retries of a pickup code email the relay refused:
// a node file's buyer.pickup_mail block.
type MailConfig struct {
	// Attempts is how many tries a notice gets in all (1: no retry).
	Attempts int `yaml:"attempts"`
	// RetryBase is the wait after the first failure, doubling after each
	// further one up to RetryMax (each wait within 20 % either way).
	RetryBase time.Duration `yaml:"retry_base"`
	RetryMax  time.Duration `yaml:"retry_max"`
}

// MailDefaults are the shipped retries: 5 tries, about 2 s, 4 s, 8 s and
// 16 s apart.
func MailDefaults() MailConfig {
	return MailConfig{Attempts: DefaultMaxAttempts, RetryBase: DefaultRetryBase, RetryMax: DefaultRetryMax}
}

// Bounds of MailConfig.
const (
	MaxMailAttempts = 20
	MaxMailRetry    = time.Hour
)

// Validate checks the block; errors name the key under buyer.pickup_mail.
func (c MailConfig) Validate() error {
	if c.Attempts < 1 || c.Attempts > MaxMailAttempts {
		return fmt.Errorf("buyer.pickup_mail.attempts: %d must be 1-%d", c.Attempts, MaxMailAttempts)
	}
	if c.RetryBase <= 0 || c.RetryBase > MaxMailRetry {
		return fmt.Errorf("buyer.pickup_mail.retry_base: %v must be more than 0 and at most %v", c.RetryBase, MaxMailRetry)
	}
	if c.RetryMax < c.RetryBase || c.RetryMax > MaxMailRetry {
		return fmt.Errorf("buyer.pickup_mail.retry_max: %v must be at least retry_base (%v) and at most %v", c.RetryMax, c.RetryBase, MaxMailRetry)
	}
	return nil
}
