package giveaway_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/giveaway"
)

// TestStoreSubscribe: on each store a follower hears a giveaway's start
// and its draw, and nothing once its context ended.
func TestStoreSubscribe(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			got := make(chan giveaway.Change, 16)
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			live := make(chan struct{})
			var once sync.Once
			wg.Go(func() {
				giveaway.Follow(ctx, b.store, func(c giveaway.Change) {
					once.Do(func() { close(live) })
					got <- c
				}, func(err error) { t.Logf("lost: %v", err) })
			})
			g, err := giveaway.New(giveaway.Params{Store: b.store, Orders: b.orders})
			if err != nil {
				t.Fatal(err)
			}
			// The subscription goes live some time after Follow starts:
			// start giveaways until one is heard.
			first := ""
			deadline := time.Now().Add(10 * time.Second)
			for n := 0; first == ""; n++ {
				id := fmt.Sprintf("sub%d", n)
				if _, err := g.Start(ctx, giveaway.StartParams{ID: id, Stream: "demo", Rule: giveaway.RulePresent}); err != nil {
					t.Fatal(err)
				}
				select {
				case c := <-got:
					first = c.ID
				case <-time.After(100 * time.Millisecond):
					if time.Now().After(deadline) {
						t.Fatal("no change heard within 10s of starting giveaways")
					}
				}
			}
			for len(got) > 0 { // starts made before the first was heard
				<-got
			}
			if _, err := g.Enter(ctx, first, giveaway.Entrant{Buyer: "b1", Present: true}); err != nil {
				t.Fatal(err)
			}
			select {
			case c := <-got:
				t.Fatalf("an entry was told as a change: %+v", c)
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := g.Draw(ctx, first); err != nil {
				t.Fatal(err)
			}
			select {
			case c := <-got:
				if c.ID != first {
					t.Fatalf("draw of %s told as %+v", first, c)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the draw was not told within 10s")
			}
		})
	}
}
