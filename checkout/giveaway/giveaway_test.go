package giveaway_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/giveaway"
)

// TestRevealedSeedReproducesTheWinner: what viewers see at the start (the
// commitment) and at the draw (seed, entrants, winner) is enough to check
// the winner; a different seed does not pass the check.
func TestRevealedSeedReproducesTheWinner(t *testing.T) {
	g, err := giveaway.Start("g1", "demo", "A cap", giveaway.RulePresent, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	shown := g.Info()
	if shown.Seed != "" || len(shown.Commitment) != 64 {
		t.Fatalf("at the start: %+v, want a commitment and no seed", shown)
	}
	for i := range 50 {
		if err := g.Enter(giveaway.Entrant{Buyer: fmt.Sprintf("b%02d", i), Present: true}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := g.Draw()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := hex.DecodeString(res.Seed)
	if err != nil || len(seed) != giveaway.SeedLen {
		t.Fatalf("revealed seed %q", res.Seed)
	}
	if giveaway.Commitment("g1", seed) != shown.Commitment {
		t.Fatal("the revealed seed does not match the commitment shown at the start")
	}
	// An independent check, entrants in another order.
	rev := append([]string(nil), res.EntrantIDs...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if w, _, err := giveaway.Draw("g1", seed, rev); err != nil || w != res.Winner {
		t.Fatalf("redraw: %q %v, want %q", w, err, res.Winner)
	}
	if !giveaway.Verify("g1", shown.Commitment, seed, res.EntrantIDs, res.Winner) {
		t.Fatal("Verify refused the real draw")
	}
	other := bytes.Repeat([]byte{7}, giveaway.SeedLen)
	if giveaway.Verify("g1", shown.Commitment, other, res.EntrantIDs, res.Winner) {
		t.Fatal("Verify accepted a seed that was not committed to")
	}
	if again, _ := g.Draw(); again.Winner != res.Winner || again.Seed != res.Seed {
		t.Fatal("a second draw changed the result")
	}
	if err := g.Enter(giveaway.Entrant{Buyer: "late", Present: true}); !errors.Is(err, giveaway.ErrClosed) {
		t.Fatalf("entry after the draw: %v", err)
	}
}

// TestOnlyEligibleEntrantsCanWin: each rule refuses those it leaves out,
// and over many seeds every winner is one who was let in.
func TestOnlyEligibleEntrantsCanWin(t *testing.T) {
	people := []giveaway.Entrant{
		{Buyer: "away"},                                  // not watching
		{Buyer: "guest", Present: true},                  // watching, not signed in
		{Buyer: "signed", Present: true, Verified: true}, // signed in, no purchase
		{Buyer: "buyer", Present: true, Verified: true, Bought: true},
	}
	want := map[string][]string{
		giveaway.RulePresent:  {"guest", "signed", "buyer"},
		giveaway.RuleVerified: {"signed", "buyer"},
		giveaway.RuleBuyers:   {"buyer"},
	}
	for rule, ok := range want {
		t.Run(rule, func(t *testing.T) {
			won := map[string]int{}
			for i := range 200 {
				g, err := giveaway.Start(fmt.Sprintf("g%d", i), "demo", "", rule, time.Now(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				in := 0
				for _, p := range people {
					err := g.Enter(p)
					if (err == nil) != contains(ok, p.Buyer) {
						t.Fatalf("%s entering: %v", p.Buyer, err)
					}
					if err != nil && !errors.Is(err, giveaway.ErrNotEligible) {
						t.Fatalf("%s refused with %v, want not eligible", p.Buyer, err)
					}
					if err == nil {
						in++
					}
				}
				res, err := g.Draw()
				if err != nil {
					t.Fatal(err)
				}
				if !contains(ok, res.Winner) || res.Entrants != in {
					t.Fatalf("winner %q of %d, want one of %v", res.Winner, res.Entrants, ok)
				}
				won[res.Winner]++
			}
			for _, b := range ok { // every eligible entrant can win
				if won[b] == 0 {
					t.Errorf("%s never won in 200 draws (%v)", b, won)
				}
			}
		})
	}
}

func TestDrawIsUniformEnough(t *testing.T) {
	entrants := []string{"a", "b", "c", "d", "e"}
	counts := map[string]int{}
	seed := make([]byte, giveaway.SeedLen)
	for i := range 5000 {
		seed[0], seed[1] = byte(i), byte(i>>8)
		w, _, err := giveaway.Draw("g", seed, entrants)
		if err != nil {
			t.Fatal(err)
		}
		counts[w]++
	}
	for _, e := range entrants {
		if c := counts[e]; c < 850 || c > 1150 { // 1000 expected, > 7 sigma slack
			t.Errorf("%s won %d of 5000", e, c)
		}
	}
	if _, _, err := giveaway.Draw("g", seed, nil); !errors.Is(err, giveaway.ErrNoEntrants) {
		t.Errorf("empty draw: %v", err)
	}
}

func TestStartRefusesBadInput(t *testing.T) {
	for _, c := range []struct{ id, stream, rule string }{{"", "demo", "present"}, {"g", "", "present"}, {"g", "demo", "everyone"}} {
		if _, err := giveaway.Start(c.id, c.stream, "", c.rule, time.Now(), rand.Reader); !errors.Is(err, giveaway.ErrInvalid) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for _, prize := range []string{"cap\n<b>", "\xff", "a\x00b"} { // shown on the stream: printable text only
		if _, err := giveaway.Start("g", "demo", prize, "present", time.Now(), rand.Reader); !errors.Is(err, giveaway.ErrInvalid) {
			t.Errorf("prize %q: %v", prize, err)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
