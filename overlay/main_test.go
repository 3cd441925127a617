package overlay

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/leakcheck"
)

// TestMain fails the package when a goroutine of a hub outlives the
// tests: every goroutine must be owned and stopped.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "overlay.(*OriginHub)", "overlay.(*EdgeHub)")
}
