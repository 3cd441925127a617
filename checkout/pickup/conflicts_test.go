package pickup_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/pickup"
)

// TestStoreCountsConflictsPerCode: the event report's read, on both
// stores: the other desks' attempts per code, each desk once.
func TestStoreCountsConflictsPerCode(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			for _, c := range []pickup.Collection{
				{Code: "AAAAAAAA", Desk: "d1", At: at, ID: "c1"},
				{Code: "AAAAAAAA", Desk: "d2", At: at, ID: "c2"}, // conflict
				{Code: "AAAAAAAA", Desk: "d2", At: at, ID: "c2"}, // the same sync again: once
				{Code: "AAAAAAAA", Desk: "d3", At: at, ID: "c3"}, // conflict
				{Code: "BBBBBBBB", Desk: "d1", At: at, ID: "c4"},
			} {
				if _, err := st.Collect(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			got, err := st.ConflictCounts(ctx, []string{"AAAAAAAA", "BBBBBBBB", "CCCCCCCC"})
			if want := map[string]int{"AAAAAAAA": 2}; err != nil || !maps.Equal(got, want) {
				t.Fatalf("conflicts %v %v, want %v", got, err, want)
			}
		})
	}
}
