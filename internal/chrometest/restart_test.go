package chrometest_test

import (
	"syscall"
	"testing"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestRestartKeepsTheProfileAndLeaksNothing: a restarted browser is a new
// process on the same profile; the old one's processes are gone at once,
// and the new one's at cleanup.
func TestRestartKeepsTheProfileAndLeaksNothing(t *testing.T) {
	var dir string
	t.Run("browser", func(t *testing.T) {
		b := chrometest.Start(t)
		dir = b.UserDataDir()
		old := b.PID()
		b = b.Restart(t)
		if b.PID() == old || b.UserDataDir() != dir {
			t.Fatalf("restart: pid %d (was %d), profile %s (was %s)", b.PID(), old, b.UserDataDir(), dir)
		}
		if err := syscall.Kill(-old, 0); err == nil {
			t.Fatalf("processes of the old browser (group %d) still run", old)
		}
		if n := processesWith(t, dir); n < 2 {
			t.Fatalf("%d processes on the profile after the restart, want the new browser's", n)
		}
	})
	if n := processesWith(t, dir); n != 0 {
		t.Fatalf("%d Chromium processes left after cleanup", n)
	}
}
