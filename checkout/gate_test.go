package checkout

import (
	"context"
	"errors"
	"testing"
)

// TestDropGateStored: a drop's gate survives the store (Redis and the
// embedded one), a drop without one reads back ungated, and a gate out of
// range is refused with the key named.
func TestDropGateStored(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			d := testDrop("gated", 10, 0)
			d.Gate = Gate{WatchSeconds: 30, ProofOfWork: true}
			if err := s.CreateDrop(ctx, d); err != nil {
				t.Fatal(err)
			}
			got, err := s.Drop(ctx, "gated")
			if err != nil || got.Gate != d.Gate {
				t.Fatalf("gate read back %+v (%v), want %+v", got.Gate, err, d.Gate)
			}
			if err := s.CreateDrop(ctx, testDrop("open", 10, 0)); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Drop(ctx, "open"); err != nil || got.Gate != (Gate{}) {
				t.Fatalf("ungated drop reads %+v (%v)", got.Gate, err)
			}
			bad := testDrop("bad", 1, 0)
			bad.Gate.WatchSeconds = MaxWatchSeconds + 1
			if err := s.CreateDrop(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Fatalf("watch_seconds too large: %v", err)
			}
		})
	}
}
