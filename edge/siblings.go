package edge

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// siblingProbe is how long a draining edge waits for each sibling's
// /readyz before leaving it out of the move.
const siblingProbe = time.Second

// readySiblings asks every sibling's /readyz at once (each within timeout)
// and returns, in their order, those that answered 200: a sibling that is
// itself draining (503), not ready or unreachable gets no viewers.
func readySiblings(ctx context.Context, client *http.Client, siblings []string, timeout time.Duration) []string {
	ok := make([]bool, len(siblings))
	var wg sync.WaitGroup
	for i, sb := range siblings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[i] = probeHealth(ctx, client, strings.TrimRight(sb, "/")+"/readyz", timeout) == nil
		}()
	}
	wg.Wait()
	var out []string
	for i, sb := range siblings {
		if ok[i] {
			out = append(out, sb)
		}
	}
	return out
}
