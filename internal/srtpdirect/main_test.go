package srtpdirect

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/leakcheck"
)

// TestMain fails the package when a goroutine of the sealer or of pion's DTLS/SRTP outlives the tests: every
// goroutine must be owned and stopped.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "srtpdirect.", "github.com/pion/")
}
