package checkout

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/redistest"
)

// TestEdgeJournalManyOrders sells many orders on one edge with the default
// checkpoint size and proves the journal on disk stays bounded and a
// restart is ready within 2 s. LIVEDROP_JOURNAL_ORDERS sets the count
// (default 100000; skipped under -race); the README's figures are from
// LIVEDROP_JOURNAL_ORDERS=1000000.
func TestEdgeJournalManyOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("long test: sells 100k orders")
	}
	if raceEnabled {
		// Timing under the race detector (about 20x slower) means nothing:
		// make test runs this test again without it.
		t.Skip("timing test: run without -race (make test does)")
	}
	n := 100_000
	if v := os.Getenv("LIVEDROP_JOURNAL_ORDERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("LIVEDROP_JOURNAL_ORDERS=%q: want a count", v)
		}
	}
	srv := redistest.Start(t, redistest.Options{})
	ms, err := OpenRedisStore(context.Background(), srv.URL(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	cfg := testConfig()
	cfg.LeaseMin, cfg.LeaseMax = 2000, 50_000
	cfg.DirectThreshold = 0
	h := newHarnessOn(t, cfg, ms)
	h.open(t, testDrop("big", n+1000, 0))
	dir := t.TempDir()
	e, _, stop := runEdgeWith(t, ms, dir, cfg, nil)
	eventually(t, 5*time.Second, "a lease at the edge", func() bool { return mustTotals(t, ms, "big").HeldAtEdges > 0 })

	// Buyers, and a sampler of the journal's bytes on disk.
	var maxSegs, maxCk, maxUnshipped atomic.Int64
	sample := func() {
		segs, cks := journalFilesBytes(t, dir)
		maxSegs.Store(max(maxSegs.Load(), segs))
		maxCk.Store(max(maxCk.Load(), cks))
		q, _ := e.ship.lag()
		maxUnshipped.Store(max(maxUnshipped.Load(), int64(q)))
	}
	done := make(chan struct{})
	var samplerDone sync.WaitGroup
	samplerDone.Add(1)
	go func() {
		defer samplerDone.Done()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				sample()
			}
		}
	}()
	start := time.Now()
	var next, held atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				for {
					_, err := buyKey(e, "big", fmt.Sprintf("b%d", i%5000), fmt.Sprintf("k%d", i))
					if err == nil {
						break
					}
					if ClassOf(err) != ClassHeld && ClassOf(err) != ClassSoldOut {
						t.Errorf("order %d: %v", i, err)
						return
					}
					held.Add(1) // the lease is refilling: the buyer taps again
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	sold := time.Since(start)
	for deadline := time.Now().Add(60 * time.Second); mustTotals(t, ms, "big").Orders != n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			q, lag := e.ship.lag()
			t.Fatalf("store totals %+v after 60 s, want %d orders; %d unshipped at the edge (oldest %v)", mustTotals(t, ms, "big"), n, q, lag)
		}
	}
	close(done)
	samplerDone.Wait()
	sample()
	stop()
	segs, cks := journalFilesBytes(t, dir)
	t.Logf("%d orders in %v (%.0f/s, %d retries); journal on disk at most %d bytes of segments and %d of checkpoints (old, temp and new at once); at the end %d + %d",
		n, sold.Round(time.Millisecond), float64(n)/sold.Seconds(), held.Load(), maxSegs.Load(), maxCk.Load(), segs, cks)
	// Bounded: the segments never hold much more than a checkpoint's worth
	// (the loop looks every 100 ms, and writes go on during a checkpoint),
	// whatever n; the checkpoint holds about 20 bytes per order of the open
	// drop (their ids), and nothing of it once the drop is closed.
	if bound := 2*cfg.JournalCheckpointBytes + 4<<20; maxSegs.Load() > bound {
		t.Fatalf("journal segments reached %d bytes, bound %d", maxSegs.Load(), bound)
	}
	// (While one is written the old one and the temp file are both on disk.)
	// Besides the ids it holds the orders not shipped yet when it was
	// written, whole: at most the most the edge had unshipped (a loaded
	// machine ships later), about 256 bytes each.
	if bound := int64(24*n) + 256*maxUnshipped.Load() + 4<<20; cks > bound {
		t.Fatalf("checkpoint of %d bytes for %d orders (%.0f bytes per order; up to %d unshipped), bound %d", cks, n,
			float64(cks)/float64(n), maxUnshipped.Load(), bound)
	}

	// Restart: ready within 2 s, knowing every key.
	reg := prometheus.NewRegistry()
	t0 := time.Now()
	e2, err := NewEdge(EdgeParams{Logger: testLogger(t), Registerer: reg, Config: cfg, DataDir: dir, EdgeID: "e1", Store: ms})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- e2.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("edge run: %v", err)
		}
	}()
	select {
	case <-e2.Ready():
	case err := <-runDone:
		t.Fatalf("edge did not start: %v", err)
	}
	ready := time.Since(t0)
	replayed := metricValue(t, reg, "livedrop_checkout_journal_replayed_records", map[string]string{"source": "journal"})
	t.Logf("restart to ready: %v; %v journal records replayed after the checkpoint, %d past orders", ready.Round(time.Millisecond), replayed, e2.past.len())
	if ready > 2*time.Second {
		t.Fatalf("restart to ready took %v, want <= 2s", ready)
	}
	for _, i := range []int{1, n / 2, n} {
		id := OrderID("big", fmt.Sprintf("b%d", i%5000), fmt.Sprintf("k%d", i))
		if _, ok := e2.book.lookup(id); !ok && !e2.past.has(id) {
			t.Fatalf("after the restart the edge does not know order %d (%s)", i, id)
		}
	}
}
