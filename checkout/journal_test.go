package checkout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestJournalGroupCommitAndReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	var batches, records atomic.Int64
	j, err := OpenJournal(path, nil, func(n int, _ time.Duration) { batches.Add(1); records.Add(int64(n)) })
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.Append(context.Background(), fmt.Appendf(nil, "rec-%d", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if records.Load() != n {
		t.Fatalf("records synced = %d, want %d", records.Load(), n)
	}
	if batches.Load() >= n/2 {
		t.Fatalf("%d fsyncs for %d concurrent records: group commit is not batching", batches.Load(), n)
	}
	t.Logf("%d records in %d fsyncs", n, batches.Load())

	// Tear the tail as a crash would: the last record is cut off.
	st, _ := os.Stat(path)
	if err := os.Truncate(path, st.Size()-3); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	j, err = OpenJournal(path, func(rec []byte) error { seen[string(rec)] = true; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n-1 {
		t.Fatalf("replayed %d records, want %d (torn tail dropped)", len(seen), n-1)
	}
	if err := j.Append(context.Background(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	count := 0
	j, err = OpenJournal(path, func(rec []byte) error { count++; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if count != n {
		t.Fatalf("after appending past a torn tail: %d records, want %d", count, n)
	}
	if err := j.Append(context.Background(), []byte("x")); ClassOf(err) != ClassUnavailable {
		t.Fatalf("append after close: %v, want unavailable", err)
	}
}
