package chrometest

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Restart quits the browser as a user does (Browser.close: the profile's
// storage is written out, its service workers kept) and starts a new one on
// the same profile, like a tablet's browser restarted at the stall. The
// old Browser and its pages are done with; use the one returned.
func (b *Browser) Restart(tb testing.TB) *Browser {
	tb.Helper()
	ctx, cancel := context.WithTimeout(b.browserCtx, startTimeout)
	defer cancel()
	if err := chromedp.Cancel(ctx); err != nil {
		tb.Logf("chrometest: graceful close: %v", err)
	}
	if b.pid > 0 {
		// What the main process left (zygotes, renderers): gone before the
		// new browser takes the profile.
		_ = syscall.Kill(-b.pid, syscall.SIGKILL)
		deadline := time.Now().Add(startTimeout)
		for syscall.Kill(-b.pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // waiting for the old processes to be reaped
		}
	}
	return startIn(tb, b.userDataDir)
}
