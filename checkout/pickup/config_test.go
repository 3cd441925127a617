package pickup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/pickup"
)

// TestMailConfigValidate: the shipped retries are valid; each bad value is
// refused naming its key under buyer.pickup_mail.
func TestMailConfigValidate(t *testing.T) {
	if err := pickup.MailDefaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*pickup.MailConfig)
		want string // "" valid
	}{
		{"one try", func(c *pickup.MailConfig) { c.Attempts = 1 }, ""},
		{"bounds", func(c *pickup.MailConfig) { c.Attempts, c.RetryBase, c.RetryMax = 20, time.Hour, time.Hour }, ""},
		{"no try", func(c *pickup.MailConfig) { c.Attempts = 0 }, "buyer.pickup_mail.attempts"},
		{"too many", func(c *pickup.MailConfig) { c.Attempts = 21 }, "buyer.pickup_mail.attempts"},
		{"no wait", func(c *pickup.MailConfig) { c.RetryBase = 0 }, "buyer.pickup_mail.retry_base"},
		{"negative wait", func(c *pickup.MailConfig) { c.RetryBase = -time.Second }, "buyer.pickup_mail.retry_base"},
		{"max below base", func(c *pickup.MailConfig) { c.RetryBase, c.RetryMax = 10*time.Second, 5*time.Second }, "buyer.pickup_mail.retry_max"},
		{"max too long", func(c *pickup.MailConfig) { c.RetryMax = 2 * time.Hour }, "buyer.pickup_mail.retry_max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pickup.MailDefaults()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("%+v refused: %v", c, err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want+": ")):
				t.Fatalf("%+v: error %v, want one naming %s", c, err, tc.want)
			}
		})
	}
}
