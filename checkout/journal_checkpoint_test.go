package checkout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// These tests prove the checkpoint keeps every promise of the journal it
// replaces: an order answered 201 is shipped after a restart, whenever the
// edge died (even half way through a checkpoint); a retried key the edge
// had accepted gets that order, not a second sale; per-buyer limits
// still hold (the store and the replayed allowances); and the journal on disk stays small.

// shipGate lets a test cut the edge off from the store's Ship, so that
// orders stay unshipped across checkpoints; every other call goes through
// to the real store.
type shipGate struct {
	Store
	down atomic.Bool
}

func (g *shipGate) Ship(ctx context.Context, items []ShipItem) ([]ShipResult, error) {
	if g.down.Load() {
		return nil, fmt.Errorf("test: ship cut off: %w", ErrUnavailable)
	}
	return g.Store.Ship(ctx, items)
}

func gatedMemStore(t *testing.T) *shipGate {
	t.Helper()
	ms, err := OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return &shipGate{Store: ms}
}

// metricValue reads a counter or gauge of reg whose labels include want
// (summed over the matches).
func metricValue(t testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// journalFilesBytes sums the sizes of dir's journal segments and checkpoints.
func journalFilesBytes(t testing.TB, dir string) (segments, checkpoints int64) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "checkout"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue
		}
		switch n := e.Name(); {
		case strings.Contains(n, ".journal") && !strings.Contains(n, "damaged") && strings.HasPrefix(n, "edge-"):
			segments += recordBytes(t, filepath.Join(dir, "checkout", n), info.Size())
		case strings.Contains(n, ".checkpoint."):
			checkpoints += info.Size()
		}
	}
	return segments, checkpoints
}

// recordBytes is the bytes of the records in the segment at path (size
// bytes): the zeros preallocated after them are room, not journal.
func recordBytes(t testing.TB, path string, size int64) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return 0 // removed meanwhile by a checkpoint
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		size = min(size, st.Size()) // a seal cuts its room off meanwhile
	}
	n, err := dataEnd(f, size)
	if err != nil {
		return size // cut shorter still: it is being sealed
	}
	return n
}

func buyKey(e *Edge, drop, buyer, key string) (Order, error) {
	return e.PlaceOrder(context.Background(), OrderRequest{Drop: drop, SKU: "tee", Qty: 1, Buyer: buyer, IdempotencyKey: key})
}

// sameOrder fails unless got is the order first answered (a second sale of
// the key would carry another creation time).
func sameOrder(t testing.TB, got, want Order) {
	t.Helper()
	if got.ID != want.ID || !got.CreatedAt.Equal(want.CreatedAt) || got.Edge != want.Edge || got.Qty != want.Qty {
		t.Fatalf("retry of %s answered %+v, want the order first answered %+v", want.ID, got, want)
	}
}

func TestEdgeCheckpointRestartKeepsOrdersKeysAndCounts(t *testing.T) {
	s := gatedMemStore(t)
	cfg := testConfig()
	cfg.JournalCheckpointBytes = 4096
	cfg.LeaseMin = 50
	h := newHarnessOn(t, cfg, s)
	h.open(t, testDrop("ck", 5000, 3))
	dir := t.TempDir()
	e, reg, stop := runEdgeWith(t, s, dir, cfg, nil)
	eventually(t, 5*time.Second, "a lease at the edge", func() bool { return mustTotals(t, s, "ck").HeldAtEdges > 0 })

	var acked []Order
	sell := func(from, to int) {
		for i := from; i < to; i++ {
			o, err := buyKey(e, "ck", fmt.Sprintf("b%d", i%100), fmt.Sprintf("k%d", i))
			if err != nil {
				t.Fatalf("order %d: %v", i, err)
			}
			acked = append(acked, o)
		}
	}
	// Shipped orders, checkpointed: only their ids stay.
	sell(0, 150)
	eventually(t, 5*time.Second, "a checkpoint of shipped orders", func() bool {
		return metricValue(t, reg, "livedrop_checkout_journal_checkpoints_total", map[string]string{"result": "ok"}) >= 1 &&
			mustTotals(t, s, "ck").Orders == 150
	})
	// Orders the store cannot take: checkpoints keep them in full.
	s.down.Store(true)
	before := metricValue(t, reg, "livedrop_checkout_journal_checkpoints_total", map[string]string{"result": "ok"})
	sell(150, 250)
	eventually(t, 5*time.Second, "a checkpoint of unshipped orders, and the journal below the checkpoint size", func() bool {
		segs, _ := journalFilesBytes(t, dir)
		return metricValue(t, reg, "livedrop_checkout_journal_checkpoints_total", map[string]string{"result": "ok"}) > before &&
			segs < cfg.JournalCheckpointBytes
	})
	stop()
	segs, cks := journalFilesBytes(t, dir)
	t.Logf("on disk after 250 orders: segments %d bytes, checkpoint %d bytes", segs, cks)
	if segs >= cfg.JournalCheckpointBytes || cks == 0 {
		t.Fatalf("journal segments %d bytes (checkpoint at %d), checkpoint %d bytes: the journal was not compacted", segs, cfg.JournalCheckpointBytes, cks)
	}
	if got := mustTotals(t, s, "ck").Orders; got >= 250 {
		t.Fatalf("store has %d orders while shipping was cut off", got)
	}

	s.down.Store(false)
	e, reg, _ = runEdgeWith(t, s, dir, cfg, nil)
	if n := metricValue(t, reg, "livedrop_checkout_journal_replayed_records", map[string]string{"source": "journal"}); n >= 250 {
		t.Fatalf("replayed %v journal records at start: the checkpoint did not replace them", n)
	}
	settled(t, s, "ck", 250)
	leaseReady(t, e, "ck")
	for _, o := range acked {
		got, err := s.Order(context.Background(), o.ID)
		if err != nil || got.Status == StatusCancelled {
			t.Fatalf("order %s answered 201 before the restart: %+v %v", o.ID, got, err)
		}
	}
	for i, o := range acked {
		got, err := buyKey(e, "ck", fmt.Sprintf("b%d", i%100), fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatalf("retry of key k%d after the restart: %v", i, err)
		}
		sameOrder(t, got, o)
	}
	if tt := mustTotals(t, s, "ck"); tt.Orders != 250 {
		t.Fatalf("store has %d orders after the retries, want 250: a key was sold twice", tt.Orders)
	}
	// b0 bought 3 (keys k0, k100, k200): the limit holds across the checkpoints.
	if _, err := buyKey(e, "ck", "b0", "k-fourth"); !errors.Is(err, ErrLimit) {
		t.Fatalf("a 4th unit for b0 after the restart: %v, want the per-buyer limit", err)
	}
}

// TestEdgeCheckpointCrashAtEveryStep copies the edge's data dir at every
// step of its checkpoints, as a SIGKILL there would leave it (the journal's
// writer goes on meanwhile, so copies hold torn tails too), and starts an
// edge on each copy: it knows every order answered 201 before the copy, and
// a retry of each gets that order.
func TestEdgeCheckpointCrashAtEveryStep(t *testing.T) {
	s := gatedMemStore(t)
	cfg := testConfig()
	cfg.JournalCheckpointBytes = 2048
	cfg.LeaseMin = 50
	h := newHarnessOn(t, cfg, s)
	h.open(t, testDrop("crash", 100000, 0))
	dir := t.TempDir()

	var (
		mu    sync.Mutex
		acked []Order
	)
	type snapshot struct {
		step  string
		dir   string
		acked int
	}
	var snaps []snapshot
	seen := map[string]int{}
	crash := func(step string) {
		mu.Lock()
		if seen[step] >= 2 {
			mu.Unlock()
			return
		}
		seen[step]++
		n := len(acked)
		mu.Unlock()
		to := t.TempDir()
		copyDir(t, dir, to)
		mu.Lock()
		snaps = append(snaps, snapshot{step, to, n})
		mu.Unlock()
	}
	e, _, stop := runEdgeWith(t, s, dir, cfg, crash)
	eventually(t, 5*time.Second, "a lease at the edge", func() bool { return mustTotals(t, s, "crash").HeldAtEdges > 0 })
	var wg sync.WaitGroup
	var next atomic.Int64
	done := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				i := next.Add(1)
				if i%200 == 100 {
					s.down.Store(!s.down.Load()) // some checkpoints hold unshipped orders
				}
				o, err := buyKey(e, "crash", fmt.Sprintf("b%d", i), "k")
				if err != nil {
					continue // no lease units for a moment: not acknowledged
				}
				mu.Lock()
				acked = append(acked, o)
				mu.Unlock()
			}
		}()
	}
	steps := []string{"sealed", "written", "renamed", "durable", "removed", "truncated"}
	eventually(t, 30*time.Second, "two checkpoints seen at every step", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, st := range steps {
			if seen[st] < 2 {
				return false
			}
		}
		return true
	})
	close(done)
	wg.Wait()
	stop()
	s.down.Store(false)

	for _, sn := range snaps {
		t.Run(sn.step, func(t *testing.T) {
			e, _, stop := runEdgeWith(t, s, sn.dir, cfg, nil)
			defer stop()
			mu.Lock()
			want := acked[:sn.acked]
			mu.Unlock()
			leaseReady(t, e, "crash")
			for _, o := range want {
				if _, ok := e.book.lookup(o.ID); !ok && !e.past.has(o.ID) {
					t.Fatalf("after a crash at %q the edge does not know order %s (of %d answered 201)", sn.step, o.ID, len(want))
				}
			}
			for _, o := range want {
				got, err := buyKey(e, "crash", o.Buyer, "k")
				if err != nil {
					t.Fatalf("retry of %s after a crash at %q: %v", o.ID, sn.step, err)
				}
				sameOrder(t, got, o)
			}
		})
	}
	// The edge itself comes back on its own data: every order answered 201
	// is in the store.
	_, _, stopLast := runEdgeWith(t, s, dir, cfg, nil)
	defer stopLast()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		missing := ""
		for _, o := range acked {
			if got, err := s.Order(context.Background(), o.ID); err != nil || got.Status == StatusCancelled {
				missing = fmt.Sprintf("order %s answered 201 is %+v in the store (%v)", o.ID, got, err)
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(missing)
		}
	}
	t.Logf("%d orders, %d crash copies", len(acked), len(snaps))
}

// leaseReady waits until e sells drop's tee from a lease again, so that a
// retry it did not recognise would be sold a second time, not looked up.
func leaseReady(t *testing.T, e *Edge, drop string) {
	t.Helper()
	eventually(t, 10*time.Second, "the lease recovered after the restart", func() bool {
		sk := e.dropEntry(drop).skuEntry("tee")
		sk.mu.Lock()
		defer sk.mu.Unlock()
		return sk.recovered && sk.avail > 10 && time.Now().Before(sk.deadline)
	})
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		in, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil // removed meanwhile
		} else if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A closed drop's ids leave the checkpoint (the store answers its retried
// keys), so the checkpoint follows the live drops, not the edge's history.
func TestEdgeCheckpointForgetsClosedDrops(t *testing.T) {
	s := gatedMemStore(t)
	cfg := testConfig()
	cfg.JournalCheckpointBytes = 2048
	h := newHarnessOn(t, cfg, s)
	h.open(t, testDrop("old", 1000, 0))
	h.open(t, testDrop("new", 1000, 0))
	dir := t.TempDir()
	e, reg, _ := runEdgeWith(t, s, dir, cfg, nil)
	eventually(t, 5*time.Second, "leases at the edge", func() bool {
		return mustTotals(t, s, "old").HeldAtEdges > 0 && mustTotals(t, s, "new").HeldAtEdges > 0
	})
	var first Order
	for i := range 40 {
		o, err := buy(e, "old", fmt.Sprintf("b%d", i), 1)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = o
		}
	}
	ok := map[string]string{"result": "ok"}
	eventually(t, 5*time.Second, "the old drop's ids in a checkpoint", func() bool {
		return e.past.has(first.ID)
	})
	if err := h.ctl.Close(context.Background(), "old"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the edge to see the drop closed", func() bool { return e.dropClosed("old") })
	before := metricValue(t, reg, "livedrop_checkout_journal_checkpoints_total", ok)
	for i := 0; metricValue(t, reg, "livedrop_checkout_journal_checkpoints_total", ok) < before+2; i++ {
		if _, err := buy(e, "new", fmt.Sprintf("n%d", i), 1); err != nil {
			t.Fatal(err)
		}
		if i > 500 {
			t.Fatal("no checkpoint after 500 orders")
		}
	}
	if e.past.has(first.ID) || slices.Contains(e.past.drops(), "old") {
		t.Fatalf("the closed drop's ids are still kept: %v", e.past.drops())
	}
	got, err := buy(e, "old", "b0", 1)
	if err != nil {
		t.Fatalf("retry of a closed drop's key: %v", err)
	}
	sameOrder(t, got, first)
}
