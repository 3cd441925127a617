package udpbatch

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/leakcheck"
)

// TestMain fails the package when a socket's flusher outlives the tests: every
// goroutine must be owned and stopped.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "udpbatch.(*Conn).flusher")
}
