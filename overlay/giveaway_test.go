package overlay

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var (
	goldenGiveawayOpen = Giveaway{ID: "g1", State: GiveawayOpen, Prize: "Signed tee", Rule: "present",
		Commitment: strings.Repeat("ab", 32)}
	goldenGiveaway = Giveaway{ID: "g1", State: GiveawayDrawn, Prize: "Signed tee", Rule: "present",
		Commitment: strings.Repeat("ab", 32), Entrants: 3, Winner: "b-12…cdef", Seed: strings.Repeat("0f", 32),
		EntrantsDigest: strings.Repeat("9e", 32)}
)

// TestGiveawayStampedOriginToViewer: a giveaway event the origin publishes
// is stamped with the stream's media clock and reaches a viewer at the
// edge with its media time mapped and its content as sent; before the
// stream's first video packet it carries no media_ts.
func TestGiveawayStampedOriginToViewer(t *testing.T) {
	clock := newMediaClock(5000)
	origin := newOrigin(t, testConfig(), memStore(t), clock, nil)
	edge := newEdge(t, testConfig(), nil, func(_ string, ts uint32) uint32 { return ts + 1000 }, nil)
	run(t, origin.Run)
	run(t, edge.Run)

	up, cancelUp := origin.Subscribe("cam1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range up {
			if err := edge.Ingest("cam1", m); err != nil {
				t.Errorf("ingest %s: %v", m, err)
			}
		}
	}()
	defer func() { cancelUp(); <-done }()
	viewer, cancel := edge.Subscribe("cam1")
	defer cancel()
	recvType(t, viewer, TypeState)

	if err := origin.PublishGiveaway("cam1", goldenGiveawayOpen); err != nil {
		t.Fatal(err)
	}
	m := recvType(t, viewer, TypeGiveaway)
	if m.MediaTS == nil || *m.MediaTS != 6000 || *m.Giveaway != goldenGiveawayOpen {
		t.Fatalf("viewer got giveaway %+v at %v, want %+v stamped 5000, mapped to 6000", *m.Giveaway, m.MediaTS, goldenGiveawayOpen)
	}
	clock.ts.Store(-1)
	if err := origin.PublishGiveaway("cam1", goldenGiveaway); err != nil {
		t.Fatal(err)
	}
	if m := recvType(t, viewer, TypeGiveaway); m.MediaTS != nil || *m.Giveaway != goldenGiveaway {
		t.Fatalf("unstamped giveaway %+v (media_ts %v)", *m.Giveaway, m.MediaTS)
	}
	noMessage(t, viewer)
}

// TestGiveawayRefused: a bad giveaway event is refused by the origin's API
// and by an edge's decoder with an error naming the field, and nothing is
// sent.
func TestGiveawayRefused(t *testing.T) {
	origin := newOrigin(t, testConfig(), memStore(t), newMediaClock(1), nil)
	edge := newEdge(t, testConfig(), nil, nil, nil)
	run(t, origin.Run)
	run(t, edge.Run)
	up, cancelUp := origin.Subscribe("cam1")
	defer cancelUp()
	recv(t, up)
	viewer, cancel := edge.Subscribe("cam1")
	defer cancel()
	recv(t, viewer)

	tests := []struct {
		name string
		edit func(*Giveaway)
		want string
	}{
		{"bad id", func(g *Giveaway) { g.ID = "g 1" }, "giveaway id"},
		{"unknown state", func(g *Giveaway) { g.State = "paused" }, "state"},
		{"unknown rule", func(g *Giveaway) { g.Rule = "everyone" }, "rule"},
		{"short commitment", func(g *Giveaway) { g.Commitment = "abcd" }, "commitment"},
		{"upper-case commitment", func(g *Giveaway) { g.Commitment = strings.Repeat("AB", 32) }, "commitment"},
		{"control character in prize", func(g *Giveaway) { g.Prize = "a\x00b" }, "prize"},
		{"long prize", func(g *Giveaway) { g.Prize = strings.Repeat("x", MaxGiveawayPrizeLen+1) }, "prize"},
		{"negative entrants", func(g *Giveaway) { g.Entrants = -1 }, "entrants"},
		{"no winner", func(g *Giveaway) { g.Winner = "" }, "winner"},
		{"invalid UTF-8 winner", func(g *Giveaway) { g.Winner = "\xff" }, "winner"},
		{"long winner", func(g *Giveaway) { g.Winner = strings.Repeat("x", MaxGiveawayWinnerLen+1) }, "winner"},
		{"bad seed", func(g *Giveaway) { g.Seed = "zz" }, "seed"},
		{"bad digest", func(g *Giveaway) { g.EntrantsDigest = "" }, "entrants_digest"},
		{"winner without entrants", func(g *Giveaway) { g.Entrants = 0 }, "without entrants"},
		{"seed before the draw", func(g *Giveaway) { g.State = GiveawayOpen }, "only after the draw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := goldenGiveaway
			tc.edit(&g)
			err := origin.PublishGiveaway("cam1", g)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("PublishGiveaway: %v, want ErrInvalid naming %q", err, tc.want)
			}
			noMessage(t, up)
			if !utf8.ValidString(g.Winner) {
				return // the wire carries no invalid UTF-8: encoding replaces it
			}
			err = edge.Ingest("cam1", encodeGiveaway(1, true, &g))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("edge Ingest: %v, want ErrInvalid naming %q", err, tc.want)
			}
		})
	}
	if err := edge.Ingest("cam1", []byte(`{"v":1,"type":"giveaway","media_ts":1}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a giveaway message without a giveaway: %v", err)
	}
	if err := origin.PublishGiveaway("bad stream", goldenGiveaway); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PublishGiveaway on a bad stream name: %v", err)
	}
	noMessage(t, up)
	noMessage(t, viewer)
}

// TestGiveawayWireGolden pins the giveaway message's encoding.
func TestGiveawayWireGolden(t *testing.T) {
	want := `{"v":1,"type":"giveaway","media_ts":90000,"giveaway":{"id":"g1","state":"drawn","prize":"Signed tee","rule":"present","commitment":"` +
		strings.Repeat("ab", 32) + `","entrants":3,"winner":"b-12…cdef","seed":"` + strings.Repeat("0f", 32) + `","entrants_digest":"` +
		strings.Repeat("9e", 32) + `"}}`
	if got := string(encodeGiveaway(90000, true, &goldenGiveaway)); got != want {
		t.Fatalf("encoded\n%s\nwant\n%s", got, want)
	}
	m, err := DecodeMessage([]byte(want))
	if err != nil || *m.Giveaway != goldenGiveaway || *m.MediaTS != 90000 {
		t.Fatalf("decoded %+v (%v)", m, err)
	}
}
