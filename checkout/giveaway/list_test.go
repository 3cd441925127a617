package giveaway_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/livedrop/livedrop/checkout/giveaway"
)

// TestStoreListsGiveawaysAndReadsEntrants: the event report's reads, on
// both stores: every giveaway's id and its entrants, before and after the
// draw closed it.
func TestStoreListsGiveawaysAndReadsEntrants(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := b.store
			for _, id := range []string{"gb", "ga"} {
				if err := st.Create(ctx, giveaway.Record{Info: giveaway.Info{ID: id, Stream: "demo", Rule: giveaway.RulePresent}, SecretSeed: "00"}); err != nil {
					t.Fatal(err)
				}
			}
			for _, buyer := range []string{"zed", "amy", "amy"} {
				if _, err := st.Enter(ctx, "ga", buyer); err != nil {
					t.Fatal(err)
				}
			}
			if ids, err := st.List(ctx); err != nil || !slices.Equal(ids, []string{"ga", "gb"}) {
				t.Fatalf("list %v %v, want [ga gb]", ids, err)
			}
			if got, err := st.Entrants(ctx, "ga"); err != nil || !slices.Equal(got, []string{"amy", "zed"}) {
				t.Fatalf("entrants %v %v, want [amy zed]", got, err)
			}
			if _, err := st.Close(ctx, "ga"); err != nil {
				t.Fatal(err)
			}
			if got, err := st.Entrants(ctx, "ga"); err != nil || !slices.Equal(got, []string{"amy", "zed"}) {
				t.Fatalf("entrants after the close %v %v, want [amy zed]", got, err)
			}
			if got, err := st.Entrants(ctx, "gb"); err != nil || len(got) != 0 {
				t.Fatalf("entrants of an empty giveaway %v %v", got, err)
			}
			if _, err := st.Entrants(ctx, "nope"); !errors.Is(err, giveaway.ErrNotFound) {
				t.Fatalf("entrants of no giveaway: %v, want ErrNotFound", err)
			}
		})
	}
}
