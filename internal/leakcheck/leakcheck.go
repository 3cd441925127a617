// Package leakcheck fails a test binary whose goroutines outlive its tests.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests, then fails if a goroutine whose stack mentions one
// of markers (e.g. "checkout.(*Edge)") is still alive after wait: every
// goroutine must be owned and stopped. Call it from TestMain.
func Main(m *testing.M, wait time.Duration, markers ...string) {
	code := m.Run()
	if code == 0 {
		if leak := Leaked(wait, markers...); leak != "" {
			fmt.Fprintln(os.Stderr, "goroutine leak:\n"+leak)
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked waits up to wait for goroutines matching markers to end and
// returns the stacks of those that did not.
func Leaked(wait time.Duration, markers ...string) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var bad []string
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "leakcheck.Leaked(") {
				continue // the caller, whose stack names its package
			}
			for _, mk := range markers {
				if strings.Contains(g, mk) {
					bad = append(bad, g)
					break
				}
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
