package whip

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/leakcheck"
)

// TestMain fails the package when a publisher's goroutine or a peer
// connection's outlives the tests: every goroutine must be owned and
// stopped.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "whip.(*publisher)", "github.com/pion/")
}
