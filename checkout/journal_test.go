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

// A note is written at once (a killed process keeps it) but costs no fsync
// of its own: the next waited-for record's fsync, a rotation or Close makes
// it durable.
func TestJournalNotesRideTheNextFsync(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	var fsyncs, synced atomic.Int64
	j, err := OpenJournal(path, nil, func(n int, _ time.Duration) { fsyncs.Add(1); synced.Add(int64(n)) })
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for i := range 50 {
		rec := fmt.Appendf(nil, "note-%d", i)
		want += int64(8 + len(rec))
		if err := j.Note(rec); err != nil {
			t.Fatal(err)
		}
	}
	// Written without an fsync: the file grows, no fsync is observed.
	deadline := time.Now().Add(10 * time.Second)
	for j.Size() < want {
		if time.Now().After(deadline) {
			t.Fatalf("notes not written: journal is %d bytes", j.Size())
		}
		time.Sleep(time.Millisecond)
	}
	if n := fsyncs.Load(); n != 0 {
		t.Fatalf("%d fsyncs for notes alone, want 0", n)
	}
	// A copy of the file now is what a killed process leaves: the notes are there.
	killed := filepath.Join(dir, "killed")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(killed, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := replayCount(t, killed); got != 50 {
		t.Fatalf("a killed writer left %d notes, want 50", got)
	}
	// A waited-for record is fsynced; a note queued after it rides the next
	// fsync, which a rotation asks for.
	if err := j.Append(context.Background(), []byte("order")); err != nil {
		t.Fatal(err)
	}
	if n := fsyncs.Load(); n != 1 {
		t.Fatalf("%d fsyncs after one waited-for record, want 1", n)
	}
	if err := j.Note([]byte("late-note")); err != nil {
		t.Fatal(err)
	}
	want += int64(8+len("order")) + int64(8+len("late-note"))
	for j.Size() < want {
		if time.Now().After(deadline) {
			t.Fatalf("late note not written: journal is %d bytes", j.Size())
		}
		time.Sleep(time.Millisecond)
	}
	next := filepath.Join(dir, "j2")
	if err := j.Rotate(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if err := j.Note([]byte("note-in-j2")); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got := replayCount(t, path); got != 52 {
		t.Fatalf("sealed segment replays %d records, want 52 (50 notes, the order, the late note)", got)
	}
	if got := replayCount(t, next); got != 1 {
		t.Fatalf("new segment replays %d records, want the note Close made durable", got)
	}
	if err := j.Note([]byte("x")); err == nil {
		t.Fatal("a note after Close was accepted")
	}
}

func replayCount(t *testing.T, path string) int {
	t.Helper()
	n := 0
	j, err := OpenJournal(path, func([]byte) error { n++; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	return n
}
