package overlay

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
)

// soldStore is the memory store with units taken off a SKU's free stock,
// as if sold elsewhere.
type soldStore struct {
	*checkout.MemStore
	mu   sync.Mutex
	sold map[string]int
}

func (s *soldStore) sell(sku string, n int) {
	s.mu.Lock()
	s.sold[sku] += n
	s.mu.Unlock()
}

func (s *soldStore) Totals(ctx context.Context, id string) (checkout.Totals, error) {
	t, err := s.MemStore.Totals(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range t.SKUs {
		t.SKUs[i].Free -= s.sold[t.SKUs[i].SKU]
	}
	return t, err
}

func TestOriginShow(t *testing.T) {
	now := time.UnixMilli(1763780000000)
	tests := []struct {
		name   string
		stream string
		req    Request
		want   Overlay
		err    error
	}{
		{"product", "cam1", Request{Type: "product", Drop: "d1", SKU: "tee"},
			Overlay{ID: "ov-1", Kind: KindProduct, Drop: "d1", SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR", StockLeft: 100, DropState: "created"}, nil},
		{"countdown", "cam1", Request{Type: "countdown", Label: "Drop opens in", Seconds: 30},
			Overlay{ID: "ov-1", Kind: KindCountdown, Label: "Drop opens in", EndsAtMS: 1763780030000}, nil},
		{"countdown of a drop", "cam1", Request{Type: "countdown", Label: "Ends in", Seconds: 1, Drop: "d1"},
			Overlay{ID: "ov-1", Kind: KindCountdown, Drop: "d1", Label: "Ends in", EndsAtMS: 1763780001000}, nil},
		{"unknown drop", "cam1", Request{Type: "product", Drop: "nope", SKU: "tee"}, Overlay{}, ErrNotFound},
		{"unknown sku", "cam1", Request{Type: "product", Drop: "d1", SKU: "hat"}, Overlay{}, ErrNotFound},
		{"countdown of an unknown drop", "cam1", Request{Type: "countdown", Label: "x", Seconds: 1, Drop: "nope"}, Overlay{}, ErrNotFound},
		{"drop of another stream", "cam1", Request{Type: "product", Drop: "d2", SKU: "mug"}, Overlay{}, ErrInvalid},
		{"bad type", "cam1", Request{Type: "banner"}, Overlay{}, ErrInvalid},
		{"product with label", "cam1", Request{Type: "product", Drop: "d1", SKU: "tee", Label: "x"}, Overlay{}, ErrInvalid},
		{"countdown too long", "cam1", Request{Type: "countdown", Label: "x", Seconds: MaxCountdownSeconds + 1}, Overlay{}, ErrInvalid},
		{"label with control", "cam1", Request{Type: "countdown", Label: "a\nb", Seconds: 1}, Overlay{}, ErrInvalid},
		{"bad stream", "cam 1", Request{Type: "countdown", Label: "x", Seconds: 1}, Overlay{}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newOrigin(t, testConfig(), memStore(t), newMediaClock(1000), func() time.Time { return now })
			got, err := h.Show(context.Background(), tc.stream, tc.req)
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestOriginLateSubscriberGetsStateFirst(t *testing.T) {
	clock := newMediaClock(90000)
	h := newOrigin(t, testConfig(), memStore(t), clock, nil)
	ctx := context.Background()
	p, err := h.Show(ctx, "cam1", Request{Type: "product", Drop: "d1", SKU: "tee"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.Show(ctx, "cam1", Request{Type: "countdown", Label: "Hurry", Seconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	m := recv(t, msgs)
	if m.Type != TypeState || m.Seq != 2 || len(m.Overlays) != 2 || m.Overlays[0] != p || m.Overlays[1] != c {
		t.Fatalf("first message %+v, want state seq 2 with %v and %v", m, p, c)
	}
	noMessage(t, msgs)

	clock.ts.Store(93000)
	if err := h.Hide("cam1", p.ID); err != nil {
		t.Fatal(err)
	}
	m = recv(t, msgs)
	if m.Type != TypeHide || m.Seq != 3 || m.ID != p.ID || m.MediaTS == nil || *m.MediaTS != 93000 {
		t.Fatalf("got %+v, want hide seq 3 of %s at 93000", m, p.ID)
	}
	if err := h.Hide("cam1", p.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second hide: %v, want not found", err)
	}
	if got := h.List("cam1"); len(got) != 1 || got[0] != c {
		t.Fatalf("list = %+v", got)
	}
	// Another subscriber now gets the state after the hide.
	msgs2, cancel2 := h.Subscribe("cam1")
	defer cancel2()
	if m := recv(t, msgs2); m.Type != TypeState || m.Seq != 3 || len(m.Overlays) != 1 || m.Overlays[0].ID != c.ID {
		t.Fatalf("late state %+v", m)
	}
}

func TestOriginSequenceAndMediaTime(t *testing.T) {
	clock := newMediaClock(-1)
	h := newOrigin(t, testConfig(), memStore(t), clock, nil)
	ctx := context.Background()
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	if m := recv(t, msgs); m.Type != TypeState || m.Seq != 0 || len(m.Overlays) != 0 {
		t.Fatalf("first message %+v", m)
	}

	// No video yet: no media_ts, shown at once.
	o, err := h.Show(ctx, "cam1", Request{Type: "product", Drop: "d1", SKU: "tee"})
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, msgs); m.Type != TypeShow || m.Seq != 1 || m.MediaTS != nil || *m.Overlay != o {
		t.Fatalf("got %+v", m)
	}
	steps := []func() (string, error){
		func() (string, error) { // pinning it again replaces it: same id
			o, err := h.Show(ctx, "cam1", Request{Type: "product", Drop: "d1", SKU: "tee"})
			return o.ID, err
		},
		func() (string, error) {
			o, err := h.Show(ctx, "cam1", Request{Type: "product", Drop: "d1", SKU: "cap"})
			return o.ID, err
		},
		func() (string, error) { return "ov-1", h.Hide("cam1", "ov-1") },
		func() (string, error) {
			o, err := h.Show(ctx, "cam1", Request{Type: "countdown", Label: "Go", Seconds: 5})
			return o.ID, err
		},
	}
	wantIDs := []string{"ov-1", "ov-2", "ov-1", "ov-3"}
	wantTypes := []string{TypeShow, TypeShow, TypeHide, TypeShow}
	for i, step := range steps {
		ts := int64(4294967000 + i*100) // crosses the 32-bit wrap
		clock.ts.Store(ts)
		id, err := step()
		if err != nil {
			t.Fatal(err)
		}
		m := recv(t, msgs)
		gotID := m.ID
		if m.Overlay != nil {
			gotID = m.Overlay.ID
		}
		if m.Type != wantTypes[i] || m.Seq != uint64(i+2) || m.MediaTS == nil || *m.MediaTS != uint32(ts) || gotID != wantIDs[i] || id != wantIDs[i] {
			t.Fatalf("step %d: got %+v (id %s), want %s seq %d id %s at %d", i, m, gotID, wantTypes[i], i+2, wantIDs[i], uint32(ts))
		}
	}
	noMessage(t, msgs)
}

func TestOriginMaxOverlays(t *testing.T) {
	cfg := testConfig()
	cfg.MaxOverlays = 2
	h := newOrigin(t, cfg, memStore(t), newMediaClock(0), nil)
	ctx := context.Background()
	for _, r := range []Request{{Type: "product", Drop: "d1", SKU: "tee"}, {Type: "countdown", Label: "a", Seconds: 9}} {
		if _, err := h.Show(ctx, "cam1", r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Show(ctx, "cam1", Request{Type: "product", Drop: "d1", SKU: "cap"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("third overlay: %v, want conflict", err)
	}
	// Re-pinning a shown product is not a new overlay.
	if _, err := h.Show(ctx, "cam1", Request{Type: "product", Drop: "d1", SKU: "tee"}); err != nil {
		t.Fatalf("re-pin: %v", err)
	}
}

func TestOriginDropOpenAndClose(t *testing.T) {
	for _, how := range []string{"notified", "polled"} {
		t.Run(how, func(t *testing.T) {
			store := memStore(t)
			cfg := testConfig()
			if how == "notified" {
				cfg.PollInterval = time.Hour // only the notice can tell
			}
			h := newOrigin(t, cfg, store, newMediaClock(7), nil)
			run(t, h.Run)
			ctx := context.Background()
			p, err := h.Show(ctx, "cam1", Request{Type: "product", Drop: "d1", SKU: "tee"})
			if err != nil {
				t.Fatal(err)
			}
			cd, err := h.Show(ctx, "cam1", Request{Type: "countdown", Label: "Ends in", Seconds: 900, Drop: "d1"})
			if err != nil {
				t.Fatal(err)
			}
			other, err := h.Show(ctx, "cam1", Request{Type: "countdown", Label: "Next drop", Seconds: 900})
			if err != nil {
				t.Fatal(err)
			}
			msgs, cancel := h.Subscribe("cam1")
			defer cancel()
			recv(t, msgs) // state

			setState := func(state string) {
				if err := store.SetState(ctx, "d1", state); err != nil {
					t.Fatal(err)
				}
				if how == "notified" {
					h.NotifyDropState("d1", state)
				}
			}
			setState(checkout.StateOpen)
			if m := recv(t, msgs); m.Type != TypeDrop || m.Drop != "d1" || m.State != "open" {
				t.Fatalf("got %+v, want drop d1 open", m)
			}
			if l := h.List("cam1"); l[0].DropState != "open" {
				t.Fatalf("product drop_state %q after open", l[0].DropState)
			}

			setState(checkout.StateClosed)
			if m := recv(t, msgs); m.Type != TypeDrop || m.State != "closed" {
				t.Fatalf("got %+v, want drop d1 closed", m)
			}
			for _, id := range []string{p.ID, cd.ID} {
				if m := recv(t, msgs); m.Type != TypeHide || m.ID != id {
					t.Fatalf("got %+v, want hide %s", m, id)
				}
			}
			if l := h.List("cam1"); len(l) != 1 || l[0].ID != other.ID {
				t.Fatalf("list after close = %+v, want only %s", l, other.ID)
			}
			if _, err := h.Show(ctx, "cam1", Request{Type: "product", Drop: "d1", SKU: "tee"}); !errors.Is(err, ErrConflict) {
				t.Fatalf("pin on a closed drop: %v, want conflict", err)
			}
		})
	}
}

func TestOriginPollsStock(t *testing.T) {
	store := &soldStore{MemStore: memStore(t), sold: map[string]int{}}
	h := newOrigin(t, testConfig(), store, newMediaClock(7), nil)
	run(t, h.Run)
	if _, err := h.Show(context.Background(), "cam1", Request{Type: "product", Drop: "d1", SKU: "tee"}); err != nil {
		t.Fatal(err)
	}
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	recv(t, msgs)
	store.sell("tee", 3)
	m := recvType(t, msgs, TypeStock)
	if m.Drop != "d1" || m.SKU != "tee" || *m.Left != 97 {
		t.Fatalf("got %+v, want stock d1/tee 97", m)
	}
	if l := h.List("cam1"); l[0].StockLeft != 97 {
		t.Fatalf("stock_left in state = %d", l[0].StockLeft)
	}
}

func TestOriginCountdownExpires(t *testing.T) {
	clock := &fakeClock{t: time.UnixMilli(1_000_000)}
	cfg := testConfig()
	cfg.CountdownLinger = time.Second
	h := newOrigin(t, cfg, memStore(t), newMediaClock(7), clock.Now)
	run(t, h.Run)
	o, err := h.Show(context.Background(), "cam1", Request{Type: "countdown", Label: "Go", Seconds: 10})
	if err != nil {
		t.Fatal(err)
	}
	msgs, cancel := h.Subscribe("cam1")
	defer cancel()
	recv(t, msgs)
	clock.Add(10*time.Second + 500*time.Millisecond) // ended, still lingering
	clock.Add(time.Second)
	if m := recv(t, msgs); m.Type != TypeHide || m.ID != o.ID {
		t.Fatalf("got %+v, want hide %s", m, o.ID)
	}
}

// TestSlowSubscriberResyncs: a subscriber that stops reading never blocks the
// hub or another subscriber; when it reads again, it gets a fresh state and
// then the events after it.
func TestSlowSubscriberResyncs(t *testing.T) {
	cfg := testConfig()
	cfg.SubscriberBuffer = 4
	reg := prometheus.NewRegistry()
	h, err := NewOriginHub(OriginParams{Registerer: reg, Config: cfg, Drops: memStore(t), MediaClock: newMediaClock(1).now})
	if err != nil {
		t.Fatal(err)
	}
	slow, cancelSlow := h.Subscribe("cam1")
	defer cancelSlow()
	fast, cancelFast := h.Subscribe("cam1")
	defer cancelFast()
	recv(t, fast)

	ctx := context.Background()
	const n = 50
	for i := range n {
		if i%2 == 0 {
			_, err = h.Show(ctx, "cam1", Request{Type: "countdown", Label: "x", Seconds: 60})
		} else {
			err = h.Hide("cam1", "ov-"+itoa(i/2+1))
		}
		if err != nil {
			t.Fatal(err)
		}
		// The fast subscriber keeps up; the slow one reads nothing.
		if m := recv(t, fast); m.Seq != uint64(i+1) || m.Type == TypeState {
			t.Fatalf("fast subscriber: %+v, want seq %d", m, i+1)
		}
	}
	if got := metricValue(h.m.resyncs); got == 0 {
		t.Fatal("no resync counted")
	}
	// The slow one: what is queued is a state and the events after it, with
	// no gap, ending on the hub's state.
	var v view
	sawState := false
	for len(slow) > 0 {
		m := recv(t, slow)
		sawState = sawState || m.Type == TypeState
		v.apply(t, m)
	}
	if !sawState || v.seq != n || len(v.overlays) != 0 {
		t.Fatalf("slow subscriber ends at seq %d with %d overlays (state seen: %v), want seq %d and none", v.seq, len(v.overlays), sawState, n)
	}
	if _, err := h.Show(ctx, "cam1", Request{Type: "countdown", Label: "y", Seconds: 60}); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, slow); m.Type != TypeShow || m.Seq != n+1 {
		t.Fatalf("after resync: %+v", m)
	}
}

func TestRunClosesSubscriptions(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := NewOriginHub(OriginParams{Registerer: reg, Config: testConfig(), Drops: memStore(t), MediaClock: newMediaClock(1).now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	msgs, unsub := h.SubscribeVia("cam1", TransportWebSocket)
	defer unsub()
	recv(t, msgs)
	if g := metricValue(h.m.subscribers[TransportWebSocket]); g != 1 {
		t.Fatalf("websocket subscribers = %v", g)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := <-msgs; ok {
		t.Fatal("subscription still open after Run returned")
	}
	if g := metricValue(h.m.subscribers[TransportWebSocket]); g != 0 {
		t.Fatalf("websocket subscribers after stop = %v", g)
	}
	late, _ := h.Subscribe("cam1")
	if _, ok := <-late; ok {
		t.Fatal("subscription after stop is open")
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := NewOriginHub(OriginParams{Registerer: reg, Config: testConfig(), Drops: memStore(t), MediaClock: newMediaClock(1).now})
	if err != nil {
		t.Fatal(err)
	}
	// An edge hub on the same registry (the demo could do this) shares them.
	if _, err := NewEdgeHub(EdgeParams{Registerer: reg, Config: testConfig()}); err != nil {
		t.Fatal(err)
	}
	_, cancel := h.Subscribe("cam1")
	defer cancel()
	if _, err := h.Show(context.Background(), "cam1", Request{Type: "countdown", Label: "x", Seconds: 5}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{"livedrop_overlay_events_total", "livedrop_overlay_fanout_seconds", "livedrop_overlay_subscribers", "livedrop_overlay_resyncs_total"} {
		if !got[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
}
