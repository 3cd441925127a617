package checkout

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestDropOpenedAtIsTheStoresClock: a drop knows when it first opened, by
// the store's clock, whatever the request said; closing keeps it, and the
// embedded store has the same time after a restart.
func TestDropOpenedAtIsTheStoresClock(t *testing.T) {
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			d := testDrop("op1", 5, 0)
			d.OpenedAt = time.Unix(1, 0) // a client's claim
			if err := st.CreateDrop(ctx, d); err != nil {
				t.Fatal(err)
			}
			got, err := st.Drop(ctx, "op1")
			if err != nil {
				t.Fatal(err)
			}
			if !got.OpenedAt.IsZero() {
				t.Fatalf("a created drop opened at %v", got.OpenedAt)
			}
			before := time.Now().Add(-time.Second)
			if err := st.SetState(ctx, "op1", StateOpen); err != nil {
				t.Fatal(err)
			}
			after := time.Now().Add(time.Second)
			got, _ = st.Drop(ctx, "op1")
			opened := got.OpenedAt
			if opened.Before(before) || opened.After(after) {
				t.Fatalf("opened at %v, want between %v and %v", opened, before, after)
			}
			if err := st.SetState(ctx, "op1", StateOpen); err != nil { // again: no change
				t.Fatal(err)
			}
			if err := st.SetState(ctx, "op1", StateClosed); err != nil {
				t.Fatal(err)
			}
			if got, _ = st.Drop(ctx, "op1"); !got.OpenedAt.Equal(opened) {
				t.Fatalf("opened at %v after closing, want %v", got.OpenedAt, opened)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "store.journal")
	ms, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.CreateDrop(ctx, testDrop("op2", 5, 0)); err != nil {
		t.Fatal(err)
	}
	if err := ms.SetState(ctx, "op2", StateOpen); err != nil {
		t.Fatal(err)
	}
	want, _ := ms.Drop(ctx, "op2")
	ms.Close()
	ms, err = OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if got, _ := ms.Drop(ctx, "op2"); want.OpenedAt.IsZero() || !got.OpenedAt.Equal(want.OpenedAt) {
		t.Fatalf("opened at %v after a restart, want %v", got.OpenedAt, want.OpenedAt)
	}
}
