package overlay

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newEdge(t testing.TB, cfg Config, stock StockSource, mapTS MapTS, now func() time.Time) *EdgeHub {
	t.Helper()
	p := EdgeParams{Registerer: prometheus.NewRegistry(), Config: cfg, MapTS: mapTS, Now: now}
	if stock != nil {
		p.Stock = stock
	}
	h, err := NewEdgeHub(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func ingest(t testing.TB, h *EdgeHub, stream string, msgs ...[]byte) {
	t.Helper()
	for _, m := range msgs {
		if err := h.Ingest(stream, m); err != nil {
			t.Fatalf("ingest %s: %v", m, err)
		}
	}
}

func TestEdgeRewritesForItsRegion(t *testing.T) {
	gbp := Overlay{ID: "ov-3", Kind: KindProduct, Drop: "d1", SKU: "scarf", Name: "Scarf", PriceCents: 1999, Currency: "GBP", StockLeft: 8, DropState: "open"}
	tests := []struct {
		name     string
		currency string
		local    map[string]int // this edge's stock of d1
		in       Overlay
		want     Overlay
	}{
		{"converted, local stock", "USD", map[string]int{"tee": 7}, goldenProduct,
			Overlay{ID: "ov-1", Kind: KindProduct, Drop: "d1", SKU: "tee", Name: "Tee", PriceCents: 2700, Currency: "USD", StockLeft: 7, DropState: "open"}},
		{"converted across minor units: €25.00 is ¥4,000", "JPY", nil, goldenProduct,
			Overlay{ID: "ov-1", Kind: KindProduct, Drop: "d1", SKU: "tee", Name: "Tee", PriceCents: 4000, Currency: "JPY", StockLeft: 42, DropState: "open"}},
		{"no rate: seller's price", "USD", nil, gbp, gbp},
		{"region currency is the seller's", "EUR", nil, goldenProduct, goldenProduct},
		{"no region currency", "", map[string]int{"tee": 0}, goldenProduct,
			Overlay{ID: "ov-1", Kind: KindProduct, Drop: "d1", SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR", StockLeft: 0, DropState: "open"}},
		{"countdown untouched", "USD", nil, goldenCountdown, goldenCountdown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Currency, cfg.Rates = tc.currency, map[string]float64{"EUR": 1.08}
			if tc.currency == "JPY" {
				cfg.Rates = map[string]float64{"EUR": 160}
			}
			stock := &fakeStock{}
			for sku, n := range tc.local {
				stock.set("d1", sku, n)
			}
			h := newEdge(t, cfg, stock, func(_ string, ts uint32) uint32 { return ts + 1000 }, nil)
			msgs, cancel := h.Subscribe("cam1")
			defer cancel()
			recv(t, msgs)
			ingest(t, h, "cam1", encodeState(4, []Overlay{tc.in}), encodeShow(5, 4294967000, true, &tc.in))
			st := recv(t, msgs)
			if st.Type != TypeState || len(st.Overlays) != 1 || st.Overlays[0] != tc.want {
				t.Fatalf("state %+v\nwant overlay %+v", st, tc.want)
			}
			sh := recv(t, msgs)
			if sh.Type != TypeShow || *sh.Overlay != tc.want || *sh.MediaTS != 704 { // mapped, wrapped
				t.Fatalf("show %+v (%+v at %d)\nwant %+v at 704", sh, *sh.Overlay, *sh.MediaTS, tc.want)
			}
		})
	}
}

func TestEdgeLateViewerGetsCurrentOverlays(t *testing.T) {
	h := newEdge(t, testConfig(), nil, nil, nil)
	ingest(t, h, "cam1",
		encodeState(10, nil),
		encodeShow(11, 100, true, &goldenProduct),
		encodeShow(12, 200, true, &goldenCountdown),
		encodeHide(13, 300, true, goldenCountdown.ID),
	)
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	m := recv(t, msgs)
	if m.Type != TypeState || m.Seq != 4 || len(m.Overlays) != 1 || m.Overlays[0] != goldenProduct {
		t.Fatalf("late viewer's first message %+v, want state seq 4 with the product", m)
	}
	noMessage(t, msgs)
}

// TestEdgeReconnect: a new upstream session starts with a state that
// replaces the edge's; the viewers' sequence goes on without a gap, and a
// late message of the old session is not shown twice.
func TestEdgeReconnect(t *testing.T) {
	h := newEdge(t, testConfig(), nil, nil, nil)
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	var v view
	v.apply(t, recv(t, msgs))

	p2 := goldenProduct
	p2.ID, p2.SKU = "ov-5", "cap"
	steps := []struct {
		msg  []byte
		want string // message type the viewer gets, "" for none
	}{
		{encodeState(5, []Overlay{goldenProduct}), TypeState},
		{encodeShow(6, 10, true, &goldenCountdown), TypeShow},
		{encodeHide(7, 20, true, goldenCountdown.ID), TypeHide},
		{encodeHide(7, 20, true, goldenCountdown.ID), ""}, // duplicate
		{encodeShow(6, 10, true, &goldenCountdown), ""},   // stale
		// Reconnect: the new session's state.
		{encodeState(8, []Overlay{p2}), TypeState},
		{encodeHide(7, 20, true, goldenCountdown.ID), ""}, // old session, late
		{encodeShow(9, 30, true, &goldenCountdown), TypeShow},
		// The origin restarted: its numbering starts again.
		{encodeState(0, nil), TypeState},
		{encodeShow(1, 40, true, &goldenProduct), TypeShow},
	}
	for i, s := range steps {
		ingest(t, h, "cam1", s.msg)
		if s.want == "" {
			noMessage(t, msgs)
			continue
		}
		m := recv(t, msgs)
		if m.Type != s.want {
			t.Fatalf("step %d: got %s, want %s", i, m.Type, s.want)
		}
		v.apply(t, m)
	}
	if v.seq != 7 || len(v.overlays) != 1 || v.overlays[0] != goldenProduct {
		t.Fatalf("viewer ends at seq %d with %+v", v.seq, v.overlays)
	}
}

func TestEdgeDropClosed(t *testing.T) {
	h := newEdge(t, testConfig(), nil, nil, nil)
	cd := goldenCountdown
	cd.Drop = "d1"
	other := goldenCountdown
	other.ID = "ov-9"
	ingest(t, h, "cam1", encodeState(1, []Overlay{goldenProduct, cd, other}), encodeDrop("d1", "closed"))
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	if m := recv(t, msgs); len(m.Overlays) != 1 || m.Overlays[0].ID != "ov-9" {
		t.Fatalf("state after close %+v, want only ov-9", m)
	}
}

func TestEdgeRefusesMalformed(t *testing.T) {
	h := newEdge(t, testConfig(), nil, nil, nil)
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	recv(t, msgs)
	for _, bad := range []string{`{`, `{"v":1,"type":"show","seq":1}`, `{"v":9,"type":"state"}`} {
		if err := h.Ingest("cam1", []byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ingest %s: %v, want invalid", bad, err)
		}
	}
	noMessage(t, msgs)
	ingest(t, h, "cam1", encodeState(1, nil))
	if m := recv(t, msgs); m.Type != TypeState {
		t.Fatalf("got %+v", m)
	}
}

// TestEdgeStockCoalesced: a flood of stock updates reaches a viewer as a
// few messages, the last one the true value (injected clock: deterministic).
func TestEdgeStockCoalesced(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	stock := &fakeStock{}
	h := newEdge(t, testConfig(), stock, nil, clock.Now) // 4 per second
	run(t, h.Run)
	eventually(t, "stock subscription", stock.subscribed)
	ingest(t, h, "cam1", encodeState(1, []Overlay{goldenProduct}))
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	recv(t, msgs)

	for i := range 1000 {
		stock.set("d1", "tee", 1000-i)
		if i%100 == 99 {
			clock.Add(10 * time.Millisecond) // 1000 updates in 100 ms
		}
	}
	if m := recv(t, msgs); m.Type != TypeStock || *m.Left != 1000 {
		t.Fatalf("first update: %+v, want 1000 at once", m)
	}
	noMessage(t, msgs)
	clock.Add(150 * time.Millisecond) // one interval after the first
	m := recv(t, msgs)
	if m.Type != TypeStock || m.Drop != "d1" || m.SKU != "tee" || *m.Left != 1 {
		t.Fatalf("got %+v, want the last value 1", m)
	}
	// A late viewer's state carries the true value too.
	late, cancelLate := h.Subscribe("cam1")
	defer cancelLate()
	if m := recv(t, late); m.Overlays[0].StockLeft != 1 {
		t.Fatalf("late state stock_left %d", m.Overlays[0].StockLeft)
	}
	clock.Add(time.Second)
	noMessage(t, msgs)
}

// TestEdgeStockCoalescedRealTime is the same flood on the real clock: at
// most a few messages per viewer, ending on the true value. The flood runs
// beside the viewer; the bound is taken from the start of the flood to the
// arrival of the last value, which covers every flush however late the
// coalescer runs on a loaded machine.
func TestEdgeStockCoalescedRealTime(t *testing.T) {
	cfg := testConfig()
	cfg.StockUpdatesPerSecond = 20
	stock := &fakeStock{}
	h := newEdge(t, cfg, stock, nil, nil)
	run(t, h.Run)
	eventually(t, "stock subscription", stock.subscribed)
	ingest(t, h, "cam1", encodeState(1, []Overlay{goldenProduct}))
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	recv(t, msgs)

	start := time.Now()
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		// Ten updates a tick, ~100 ms in all; a slow tick only stretches
		// the flood, which the bound below measures.
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := range 1000 {
			stock.set("d1", "tee", 1000-i)
			if i%10 == 9 {
				<-tick.C
			}
		}
	}()
	defer func() { <-flooded }()
	n := 0
	for {
		m := recvType(t, msgs, TypeStock)
		n++
		if *m.Left == 1 {
			break
		}
	}
	elapsed := time.Since(start)
	// The first flush is immediate, each later one an interval after the
	// one before, and the last has arrived: n <= elapsed*rate + 1.
	limit := int(elapsed.Seconds()*cfg.StockUpdatesPerSecond) + 3
	if n > limit {
		t.Fatalf("%d stock messages for 1000 updates in %v, want at most %d", n, elapsed, limit)
	}
	t.Logf("%d stock messages for 1000 updates in %v", n, elapsed)
}

func TestEdgeUpstreamStock(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	stock := &fakeStock{}
	h := newEdge(t, testConfig(), stock, nil, clock.Now)
	run(t, h.Run)
	eventually(t, "stock subscription", stock.subscribed)
	stock.set("d1", "tee", 7) // this edge sees tee; not cap
	cap := goldenProduct
	cap.ID, cap.SKU = "ov-2", "cap"
	ingest(t, h, "cam1", encodeState(1, []Overlay{goldenProduct, cap}))
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	if m := recv(t, msgs); m.Overlays[0].StockLeft != 7 || m.Overlays[1].StockLeft != 42 {
		t.Fatalf("state %+v", m.Overlays)
	}
	ingest(t, h, "cam1", encodeStock("d1", "tee", 99), encodeStock("d1", "cap", 41))
	m := recv(t, msgs)
	if m.Type != TypeStock || m.SKU != "cap" || *m.Left != 41 {
		t.Fatalf("got %+v, want upstream cap 41 only", m)
	}
	noMessage(t, msgs)
}

// TestOriginToEdge runs the chain: the edge pulls the origin's feed as a
// data channel would, a viewer watches the edge; the edge's upstream
// reconnects mid-drop and ordering holds.
func TestOriginToEdge(t *testing.T) {
	clock := newMediaClock(1000)
	origin := newOrigin(t, testConfig(), memStore(t), clock, nil)
	cfg := testConfig()
	cfg.Currency, cfg.Rates = "USD", map[string]float64{"EUR": 1.1}
	edge := newEdge(t, cfg, nil, nil, nil)
	run(t, origin.Run)
	run(t, edge.Run)
	ctx := context.Background()

	// upstream pumps the origin's feed into the edge until stopped.
	upstream := func() (stop func()) {
		msgs, cancel := origin.Subscribe("cam1")
		done := make(chan struct{})
		go func() {
			defer close(done)
			for m := range msgs {
				_ = edge.Ingest("cam1", m)
			}
		}()
		return func() { cancel(); <-done }
	}
	stop := upstream()
	viewer, cancel := edge.Subscribe("cam1")
	defer cancel()
	var v view
	v.apply(t, recv(t, viewer))

	if _, err := origin.Show(ctx, "cam1", Request{Type: "product", Drop: "d1", SKU: "tee"}); err != nil {
		t.Fatal(err)
	}
	var m Message
	for m.Type != TypeShow {
		m = recv(t, viewer)
		v.apply(t, m)
	}
	if o := m.Overlay; o.PriceCents != 2750 || o.Currency != "USD" || *m.MediaTS != 1000 {
		t.Fatalf("viewer got %+v", o)
	}
	// The upstream drops; the seller acts meanwhile; the edge reconnects.
	stop()
	if _, err := origin.Show(ctx, "cam1", Request{Type: "countdown", Label: "Last call", Seconds: 60}); err != nil {
		t.Fatal(err)
	}
	stop = upstream()
	defer func() { stop() }()
	for i := 0; i < 3; i++ {
		if _, err := origin.Show(ctx, "cam1", Request{Type: "countdown", Label: fmt.Sprint("n", i), Seconds: 60}); err != nil {
			t.Fatal(err)
		}
	}
	for len(v.overlays) != 5 {
		v.apply(t, recv(t, viewer))
	}
	want := origin.List("cam1")
	for i, o := range v.overlays {
		if o.ID != want[i].ID {
			t.Fatalf("viewer shows %+v, origin %+v", v.overlays, want)
		}
	}
}

func TestEdgeForget(t *testing.T) {
	h := newEdge(t, testConfig(), nil, nil, nil)
	ingest(t, h, "cam1", encodeState(3, []Overlay{goldenProduct}))
	msgs, cancel := h.Subscribe("cam1")
	recv(t, msgs)
	h.Forget("cam1")
	if m := recv(t, msgs); m.Type != TypeState || len(m.Overlays) != 0 || m.Seq != 2 {
		t.Fatalf("after forget: %+v", m)
	}
	cancel()
	h.mu.Lock()
	n := len(h.boards)
	h.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d boards kept after the last viewer left a forgotten stream", n)
	}
}
