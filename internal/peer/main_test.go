package peer

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/leakcheck"
)

// TestMain fails the package when a goroutine of a peer connection (ICE, DTLS, SRTP, RTCP) outlives the tests: every
// goroutine must be owned and stopped.
func TestMain(m *testing.M) {
	leakcheck.Main(m, 5*time.Second, "peer.", "github.com/pion/")
}
