package buyer_test

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/leakcheck"
)

// TestMain fails the package when a goroutine of the SMTP client, the
// test relay or a Redis store outlives the tests.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "net/smtp.", "go-smtp.", "buyer.", "buyermail.")
}
