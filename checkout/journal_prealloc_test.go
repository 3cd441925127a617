package checkout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestJournalPreallocKeepsRoomAndReplays appends past several extensions of
// a preallocated journal: the file keeps zeroed room ahead of the records,
// a copy taken while it runs (what SIGKILL leaves) and a reopen replay
// every acked record in order with no damage, and appends go on after the
// last record, not after the zeros.
func TestJournalPreallocKeepsRoomAndReplays(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	opts := JournalOptions{Prealloc: 64 << 10}
	j, err := OpenJournalWith(path, nil, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 3000 { // ~100 KiB of records: more than one extension
		rec := fmt.Sprintf(`{"n":%d,"pad":"%080d"}`, i, i)
		if err := j.Append(context.Background(), []byte(rec)); err != nil {
			t.Fatal(err)
		}
		want = append(want, rec)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() <= j.Size() {
		t.Fatalf("file is %d bytes for %d bytes of records: no room kept", st.Size(), j.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	killed := filepath.Join(dir, "killed")
	if err := os.WriteFile(killed, data, 0o644); err != nil {
		t.Fatal(err)
	}
	j.Close()

	for _, p := range []string{killed, path} {
		var got []string
		j, err := OpenJournalWith(p, func(rec []byte) error { got = append(got, string(rec)); return nil }, nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: replayed %d records, want %d in order", p, len(got), len(want))
		}
		if d := j.Damage(); len(d) != 0 {
			t.Fatalf("%s: damage %+v in a preallocated journal", p, d)
		}
		if err := j.Append(context.Background(), []byte(`{"after":1}`)); err != nil {
			t.Fatal(err)
		}
		j.Close()
		got = nil
		if j, err = OpenJournal(p, func(rec []byte) error { got = append(got, string(rec)); return nil }, nil); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want)+1 || got[len(got)-1] != `{"after":1}` || len(j.Damage()) != 0 {
			t.Fatalf("%s: after an append replayed %d records (last %q), damage %v", p, len(got), got[len(got)-1], j.Damage())
		}
		j.Close()
	}
}

// TestJournalPreallocRotateSealsRecordsOnly checks that a sealed segment
// holds its records and no room, and the new segment gets room.
func TestJournalPreallocRotateSealsRecordsOnly(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournalWith(filepath.Join(dir, "1"), nil, nil, JournalOptions{Prealloc: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := range 10 {
		if err := j.Append(context.Background(), fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	size := j.Size()
	if err := j.Rotate(context.Background(), filepath.Join(dir, "2")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "1")); err != nil || st.Size() != size {
		t.Fatalf("sealed segment: %v, %v bytes, want %d (its records)", err, st.Size(), size)
	}
	if err := j.Append(context.Background(), []byte(`{"n":10}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "room in the new segment", func() bool {
		st, err := os.Stat(filepath.Join(dir, "2"))
		return err == nil && st.Size() >= 64<<10
	})
}

// TestJournalRefusesARecordEndingInZero: such a record would read as room.
func TestJournalRefusesARecordEndingInZero(t *testing.T) {
	j, err := OpenJournalWith(filepath.Join(t.TempDir(), "j"), nil, nil, JournalOptions{Prealloc: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Append(context.Background(), []byte("x\x00")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("append of a record ending in 0x00: %v, want ErrInvalid", err)
	}
}
