package chrometest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// TestWatchGiveawayChecksTheDraw: the viewer page shows the stream's
// giveaway (no ?giveaway= in the address) and, after the draw, checks the
// revealed seed in the browser: a real draw checks out, a winner the seed
// does not pick does not.
func TestWatchGiveawayChecksTheDraw(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := chrometest.Start(t)
	seed := make([]byte, giveaway.SeedLen)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	var ents []string
	for i := range 7 {
		ents = append(ents, fmt.Sprintf("e-entrant%02dabcdefghijklmnopq", i))
	}
	winner, list, err := giveaway.Draw("cap1", seed, ents)
	if err != nil {
		t.Fatal(err)
	}
	drawn := giveaway.View{Info: giveaway.Info{ID: "cap1", Stream: "shop1", Prize: "Signed cap", Rule: giveaway.RulePresent,
		Commitment: giveaway.Commitment("cap1", seed), StartedAt: time.Now().UTC(), Entrants: len(list),
		Seed: hex.EncodeToString(seed), EntrantIDs: list, Winner: winner}, State: "drawn", WinnerMasked: giveaway.Mask(winner),
		EntrantsDigest: giveaway.EntrantsDigest(list)}
	// A forged draw: a true commitment for cap2, but a winner the seed
	// does not pick for cap2 (the draw depends on the id, so it is not
	// simply anyone but cap1's winner).
	forged := drawn
	forged.ID = "cap2"
	forged.Commitment = giveaway.Commitment("cap2", seed)
	picked, _, err := giveaway.Draw("cap2", seed, ents)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e != picked {
			forged.Winner = e
			break
		}
	}
	_, mux, srv := newFakeWHEP(t, func(*http.Request, string) (int, string) {
		return http.StatusNotFound, "stream not found\n"
	})
	mux.HandleFunc("GET /v1/streams/shop1/giveaway", func(w http.ResponseWriter, r *http.Request) {
		jsonhttp.Write(w, http.StatusOK, drawn)
	})
	mux.HandleFunc("GET /v1/giveaways/cap2", func(w http.ResponseWriter, r *http.Request) {
		jsonhttp.Write(w, http.StatusOK, forged)
	})
	newFakeEdge(t, mux, srv.URL)

	p := openWatch(ctx, t, b, srv.URL+"/watch/shop1")
	mustWait(ctx, t, p, `document.querySelector('[data-testid="giveaway-check"]').dataset.ok === 'true'`, 15*time.Second)
	if got := mustText(ctx, t, p, `[data-testid="giveaway-winner"]`); !strings.Contains(got, drawn.WinnerMasked) {
		t.Errorf("winner shown %q, want %q", got, drawn.WinnerMasked)
	}
	if got := mustText(ctx, t, p, `[data-testid="giveaway-prize"]`); got != "Signed cap" {
		t.Errorf("prize shown %q", got)
	}
	p.Close()

	p = openWatch(ctx, t, b, srv.URL+"/watch/shop1?giveaway=cap2")
	mustWait(ctx, t, p, `document.querySelector('[data-testid="giveaway-check"]').dataset.ok === 'false'`, 15*time.Second)
}
