package auctionhttp

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/leakcheck"
)

// TestMain fails the package when a goroutine of the auction edge or a
// live stream outlives the tests.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "auction.", "auctionhttp.")
}
