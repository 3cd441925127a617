package overlay

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var goldenLot = Lot{ID: "lot1", State: LotLive, PriceCents: 1500, Currency: "EUR", Leader: "a***e",
	EndsAtMS: 1763780000000, Seq: 4, Bids: 3, MinCents: 1600, ReserveMet: true}

// TestLotStampedOriginToViewer: a lot event the origin publishes is stamped
// with the stream's media clock and reaches a viewer at the edge with its
// media time mapped and its content as sent, while the edge still rewrites
// the product cards for its region and stock.
func TestLotStampedOriginToViewer(t *testing.T) {
	clock := newMediaClock(5000)
	origin := newOrigin(t, testConfig(), memStore(t), clock, nil)
	cfg := testConfig()
	cfg.Currency, cfg.Rates = "USD", map[string]float64{"EUR": 1.1}
	stock := &fakeStock{}
	stock.set("d1", "tee", 7)
	edge := newEdge(t, cfg, stock, func(_ string, ts uint32) uint32 { return ts + 1000 }, nil)
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

	if _, err := origin.Show(context.Background(), "cam1", Request{Type: "product", Drop: "d1", SKU: "tee"}); err != nil {
		t.Fatal(err)
	}
	clock.ts.Store(9000)
	if err := origin.PublishLot("cam1", goldenLot); err != nil {
		t.Fatal(err)
	}
	sh := recvType(t, viewer, TypeShow)
	if o := sh.Overlay; o.PriceCents != 2750 || o.Currency != "USD" || o.StockLeft != 7 || *sh.MediaTS != 6000 {
		t.Fatalf("product card %+v at %d: the edge's injection changed", *o, *sh.MediaTS)
	}
	m := recvType(t, viewer, TypeLot)
	if m.MediaTS == nil || *m.MediaTS != 10000 {
		t.Fatalf("lot at media_ts %v, want 9000 stamped, mapped to 10000", m.MediaTS)
	}
	if *m.Lot != goldenLot {
		t.Fatalf("viewer got lot %+v, want %+v", *m.Lot, goldenLot)
	}

	// Before the stream's first video packet: no media_ts, shown at once.
	clock.ts.Store(-1)
	ended := goldenLot
	ended.State, ended.Seq = LotEnded, 5
	if err := origin.PublishLot("cam1", ended); err != nil {
		t.Fatal(err)
	}
	if m := recvType(t, viewer, TypeLot); m.MediaTS != nil || *m.Lot != ended {
		t.Fatalf("unstamped lot %+v (media_ts %v)", *m.Lot, m.MediaTS)
	}
	noMessage(t, viewer)
}

// TestLotRefused: a bad lot is refused by the origin's API and by an
// edge's decoder with a clear error, and nothing is sent.
func TestLotRefused(t *testing.T) {
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
		edit func(*Lot)
		want string
	}{
		{"bad id", func(l *Lot) { l.ID = "lot 1" }, "lot id"},
		{"no id", func(l *Lot) { l.ID = "" }, "lot id"},
		{"unknown state", func(l *Lot) { l.State = "paused" }, "state"},
		{"negative price", func(l *Lot) { l.PriceCents = -1 }, "price_cents"},
		{"huge price", func(l *Lot) { l.PriceCents = 1 << 62 }, "price_cents"},
		{"negative minimum", func(l *Lot) { l.MinCents = -5 }, "min_cents"},
		{"lower-case currency", func(l *Lot) { l.Currency = "eur" }, "currency"},
		{"control character in leader", func(l *Lot) { l.Leader = "a\x00b" }, "leader"},
		{"long leader", func(l *Lot) { l.Leader = strings.Repeat("x", MaxLeaderLen+1) }, "leader"},
		{"invalid UTF-8 leader", func(l *Lot) { l.Leader = "\xff" }, "leader"},
		{"negative end", func(l *Lot) { l.EndsAtMS = -1 }, "ends_at_ms"},
		{"live without end", func(l *Lot) { l.EndsAtMS = 0 }, "ends_at_ms"},
		{"negative seq", func(l *Lot) { l.Seq = -1 }, "seq"},
		{"negative bids", func(l *Lot) { l.Bids = -1 }, "bids"},
		{"leader without bids", func(l *Lot) { l.Bids = 0 }, "leader without bids"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := goldenLot
			tc.edit(&l)
			err := origin.PublishLot("cam1", l)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("PublishLot: %v, want ErrInvalid naming %q", err, tc.want)
			}
			noMessage(t, up)
			if !utf8.ValidString(l.Leader) {
				return // the wire carries no invalid UTF-8: encoding replaces it
			}
			err = edge.Ingest("cam1", encodeLot(1, true, &l))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Ingest: %v, want ErrInvalid naming %q", err, tc.want)
			}
			noMessage(t, viewer)
		})
	}
	for _, raw := range []string{`{"v":1,"type":"lot","media_ts":1}`, `{"v":1,"type":"lot","lot":null}`,
		`{"v":1,"type":"lot","media_ts":-1,"lot":{"id":"a","state":"created","currency":"EUR"}}`} {
		if err := edge.Ingest("cam1", []byte(raw)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Ingest %s: %v, want ErrInvalid", raw, err)
		}
	}
	noMessage(t, viewer)
	if err := origin.PublishLot("bad stream", goldenLot); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PublishLot on a bad stream name: %v", err)
	}
	// A stream no edge subscribes to: nobody to tell, no error.
	if err := origin.PublishLot("cam2", goldenLot); err != nil {
		t.Fatalf("PublishLot without subscribers: %v", err)
	}
	// A created lot needs no end yet.
	created := Lot{ID: "lot2", State: LotCreated, PriceCents: 0, Currency: "EUR", MinCents: 1000}
	if err := origin.PublishLot("cam1", created); err != nil {
		t.Fatalf("created lot: %v", err)
	}
	if m := recvType(t, up, TypeLot); *m.Lot != created {
		t.Fatalf("edge got %+v", *m.Lot)
	}
}

// TestLotWireGolden pins the lot message's encoding.
func TestLotWireGolden(t *testing.T) {
	want := `{"v":1,"type":"lot","media_ts":90000,"lot":{"id":"lot1","state":"live","price_cents":1500,"currency":"EUR","leader":"a***e","ends_at_ms":1763780000000,"seq":4,"bids":3,"min_cents":1600,"reserve_met":true}}`
	if got := string(encodeLot(90000, true, &goldenLot)); got != want {
		t.Fatalf("encoded\n%s\nwant\n%s", got, want)
	}
	m, err := DecodeMessage([]byte(want))
	if err != nil || *m.Lot != goldenLot || *m.MediaTS != 90000 {
		t.Fatalf("decoded %+v (%v)", m, err)
	}
}
