package overlay

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when a goroutine of a hub outlives the tests:
// every goroutine must be owned and stopped.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leak := leaked(5 * time.Second); leak != "" {
			fmt.Fprintln(os.Stderr, "goroutine leak:\n"+leak)
			code = 1
		}
	}
	os.Exit(code)
}

func leaked(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var bad []string
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "overlay.(*OriginHub)") || strings.Contains(g, "overlay.(*EdgeHub)") {
				bad = append(bad, g)
			}
		}
		if len(bad) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(bad, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
