package checkout

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// lottery_helpers_test.go holds the setup the waitlist's tests repeat:
// entrants entered straight in the store, and a draw's results read back.

// buyerEntry is buyer's entry for one tee in drop, made at at on edge e1
// with the buyer's limit, keyed "k-"+buyer.
func buyerEntry(drop, buyer string, at time.Time) Entry {
	return Entry{ID: OrderID(drop, buyer, "k-"+buyer), Drop: drop, SKU: "tee", Qty: 1, Buyer: buyer,
		Limits: []string{LimitKey(KindBuyer, buyer)}, Edge: "e1", At: at}
}

// enterBuyers enters buyer00 to buyer{n-1} in drop, one after the other;
// any answer but a new entry fails the test.
func enterBuyers(t *testing.T, s Store, drop string, n int, at time.Time) {
	t.Helper()
	for i := range n {
		b := fmt.Sprintf("buyer%02d", i)
		if r, err := s.Enter(context.Background(), buyerEntry(drop, b, at), MaxLotteryEntries); err != nil || r.Outcome != EnterNew {
			t.Fatalf("enter %s: %+v %v", b, r, err)
		}
	}
}

// drawResults reads drop's entries after its draw: the winners, the
// waitlist by place, and the rest (any other result).
func drawResults(t *testing.T, s Store, drop string) (won []Entry, byPlace map[int]Entry, rest []Entry) {
	t.Helper()
	entries, err := s.Entries(context.Background(), drop)
	if err != nil {
		t.Fatal(err)
	}
	byPlace = map[int]Entry{}
	for _, en := range entries {
		switch en.Result {
		case EntryWon:
			won = append(won, en)
		case EntryLost:
			byPlace[en.Place] = en
		default:
			rest = append(rest, en)
		}
	}
	return won, byPlace, rest
}
