package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/redistest"
)

// TestSIGKILLRightAfterCheckpoint kills a real edge process with SIGKILL
// the moment it reports a journal checkpoint, while Redis is down (so the
// checkpoint holds unshipped orders and its segments are gone): after a
// restart every order answered 201 is in Redis once, and a retry of every
// key gets the order first answered, not a second sale.
func TestSIGKILLRightAfterCheckpoint(t *testing.T) {
	cfg := baseConfig()
	cfg.LeaseMin = 400
	cfg.JournalCheckpointBytes = 8 << 10
	c := newCluster(t, redistest.Options{AppendOnly: true}, cfg)
	const stock = 3000
	c.openDrop(t, "ck", stock)
	dir := t.TempDir()
	victim := startEdge(t, "victim", dir, c.srv.URL(), "127.0.0.1:0", cfg)
	eventually(t, 10*time.Second, "a lease at the edge", func() bool { return c.totals(t, "ck").HeldAtEdges >= 400 })

	client := &http.Client{Timeout: 10 * time.Second}
	var (
		mu       sync.Mutex
		accepted = map[string]checkout.Order{} // by key
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				code, o, err := placeOrder(client, victim.URL, "ck", key, key)
				if err != nil {
					return // killed under us: no 201, nothing promised
				}
				if code == 201 {
					mu.Lock()
					accepted[key] = o
					mu.Unlock()
				}
			}
		}()
	}
	checkpoints := func() float64 {
		return counter(t, victim.URL, "livedrop_checkout_journal_checkpoints_total", `result="ok"`)
	}
	eventually(t, 20*time.Second, "a checkpoint with Redis up", func() bool { return checkpoints() >= 1 })
	// Redis goes away: the edge sells on from its lease, and its next
	// checkpoints keep those orders in full.
	c.srv.Stop()
	answered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted)
	}
	atStop := answered()
	// The next checkpoint must come after enough orders sold with Redis
	// down, or it may hold few of them (a checkpoint due from bytes
	// written before the stop fires at once).
	eventually(t, 20*time.Second, "20 orders answered with Redis down", func() bool { return answered()-atStop >= 20 })
	base := checkpoints()
	for deadline := time.Now().Add(20 * time.Second); checkpoints() < base+1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint within 20 s of Redis stopping; log:\n%s", victim.LogText())
		}
	}
	victim.Kill() // right after the checkpoint (and its truncation) reported
	close(stop)
	wg.Wait()
	mu.Lock()
	n := len(accepted)
	mu.Unlock()
	segs, cks := filesIn(t, filepath.Join(dir, "checkout"))
	t.Logf("%d orders answered 201 (%d after Redis stopped); killed after %v checkpoints; on disk: %s, %s", n, n-atStop, base+1, segs, cks)
	if n-atStop < 20 {
		t.Fatalf("only %d orders answered while Redis was down: the checkpoint held few unshipped orders", n-atStop)
	}

	c.srv.Restart()
	t0 := time.Now()
	victim = startEdge(t, "victim", dir, c.srv.URL(), "127.0.0.1:0", cfg)
	t.Logf("restart to listening: %v", time.Since(t0).Round(time.Millisecond))
	eventually(t, 20*time.Second, "every order answered 201 in Redis", func() bool {
		got := c.storedOrders(t, "ck")
		for _, o := range accepted {
			if s, ok := got[o.ID]; !ok || s.Status == checkout.StatusCancelled {
				return false
			}
		}
		return true
	})
	events := c.createdEvents(t, "ck")
	for key, o := range accepted {
		if events[o.ID] != 1 {
			t.Fatalf("order %s (key %s) has %d created events, want 1", o.ID, key, events[o.ID])
		}
	}
	// The edge sells from a lease again, so a key it forgot would be sold
	// a second time: every retry must name the first order.
	eventually(t, 10*time.Second, "a lease at the restarted edge", func() bool { return c.totals(t, "ck").HeldAtEdges > 0 })
	// Orders journaled but not answered (the kill came first) are sold
	// too: at most one per buyer in flight.
	before := c.totals(t, "ck").Orders
	if before < n || before > n+8 {
		t.Fatalf("Redis holds %d orders for %d answered 201 by 8 buyers", before, n)
	}
	for key, o := range accepted {
		code, got, err := placeOrder(client, victim.URL, "ck", key, key)
		if err != nil || code != 201 || got.ID != o.ID || !got.CreatedAt.Equal(o.CreatedAt) {
			t.Fatalf("retry of key %s after the restart: %d %+v %v; want the order first answered %+v", key, code, got, err, o)
		}
	}
	if tt := c.totals(t, "ck"); tt.Orders != before {
		t.Fatalf("Redis holds %d orders after the retries, %d before: a key was sold twice", tt.Orders, before)
	}
	if r := counter(t, victim.URL, "livedrop_checkout_journal_replayed_records", `source="journal"`); r >= float64(n) {
		t.Fatalf("the restarted edge replayed %v journal records for %d orders: the checkpoint did not replace them", r, n)
	}
}

func placeOrder(client *http.Client, edge, drop, buyer, key string) (int, checkout.Order, error) {
	r, err := order(client, edge, drop, buyer, key)
	return r.code, r.order, err
}

// filesIn lists dir's journal segments and checkpoints with their sizes.
func filesIn(t *testing.T, dir string) (segments, checkpoints string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var segs, cks []string
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue
		}
		s := fmt.Sprintf("%s %d B", e.Name(), info.Size())
		switch {
		case strings.Contains(e.Name(), ".checkpoint."):
			cks = append(cks, s)
		case strings.HasPrefix(e.Name(), "edge-"):
			segs = append(segs, s)
		}
	}
	return "segments [" + strings.Join(segs, ", ") + "]", "checkpoints [" + strings.Join(cks, ", ") + "]"
}
