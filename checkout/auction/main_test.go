package auction

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/leakcheck"
)

// TestMain fails the package when a goroutine of the edge, the closer or a
// store's subscription outlives the tests.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "auction.")
}
