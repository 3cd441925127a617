package fanout

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/leakcheck"
)

// TestMain fails the package when a viewer's writer goroutine outlives the tests: every
// goroutine must be owned and stopped.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "fanout.(*writer).run")
}
