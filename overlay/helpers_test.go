package overlay

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/livedrop/livedrop/checkout"
)

// memStore is the embedded checkout store holding drop d1 of stream cam1
// (SKUs tee and cap) and drop d2 of stream other.
func memStore(t testing.TB) *checkout.MemStore {
	t.Helper()
	s, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	for _, d := range []checkout.Drop{
		{ID: "d1", Stream: "cam1", SKUs: []checkout.SKU{
			{SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR", Stock: 100},
			{SKU: "cap", Name: `Cap "<b>"`, PriceCents: 1000, Currency: "EUR", Stock: 5},
		}},
		{ID: "d2", Stream: "other", SKUs: []checkout.SKU{{SKU: "mug", Name: "Mug", PriceCents: 900, Currency: "USD", Stock: 3}}},
	} {
		if err := s.CreateDrop(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// mediaClock is a settable fake of the origin's media clock.
type mediaClock struct {
	ts atomic.Int64 // -1: no video yet
}

func newMediaClock(ts int64) *mediaClock {
	c := &mediaClock{}
	c.ts.Store(ts)
	return c
}

func (c *mediaClock) now(string) (uint32, bool) {
	v := c.ts.Load()
	return uint32(v), v >= 0
}

// fakeClock is a settable wall clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testConfig() Config {
	c := Defaults()
	c.PollInterval = 20 * time.Millisecond
	return c
}

func newOrigin(t testing.TB, cfg Config, drops DropSource, clock *mediaClock, now func() time.Time) *OriginHub {
	t.Helper()
	h, err := NewOriginHub(OriginParams{Registerer: prometheus.NewRegistry(), Config: cfg, Drops: drops, MediaClock: clock.now, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// run runs f until the test ends.
func run(t testing.TB, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

// recv returns the next message, failing after a while.
func recv(t testing.TB, ch <-chan []byte) Message {
	t.Helper()
	select {
	case b, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		m, err := DecodeMessage(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return Message{}
}

// recvType skips messages until one of type typ.
func recvType(t testing.TB, ch <-chan []byte, typ string) Message {
	t.Helper()
	for {
		if m := recv(t, ch); m.Type == typ {
			return m
		}
	}
}

// noMessage fails if a message is queued.
func noMessage(t testing.TB, ch <-chan []byte) {
	t.Helper()
	select {
	case b := <-ch:
		t.Fatalf("unexpected message %s", b)
	default:
	}
}

// eventually waits for cond, failing after 5s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// fakeStock is a StockSource the test drives.
type fakeStock struct {
	mu   sync.Mutex
	left map[string]map[string]int
	fn   func(checkout.StockLevel)
}

func (f *fakeStock) StockLeft(drop string) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.left[drop] {
		out[k] = v
	}
	return out
}

func (f *fakeStock) OnStock(fn func(checkout.StockLevel)) func() {
	f.mu.Lock()
	f.fn = fn
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.fn = nil
		f.mu.Unlock()
	}
}

func (f *fakeStock) set(drop, sku string, left int) {
	f.mu.Lock()
	if f.left == nil {
		f.left = map[string]map[string]int{}
	}
	if f.left[drop] == nil {
		f.left[drop] = map[string]int{}
	}
	f.left[drop][sku] = left
	fn := f.fn
	f.mu.Unlock()
	if fn != nil {
		fn(checkout.StockLevel{Drop: drop, SKU: sku, Left: left})
	}
}

func (f *fakeStock) subscribed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fn != nil
}

// metricValue reads a counter or gauge.
func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// view is what a viewer page keeps: it applies messages as the page does and
// fails the test on a gap or a stale message.
type view struct {
	seq      uint64
	started  bool
	overlays []Overlay
	stock    map[string]int
}

func (v *view) apply(t testing.TB, m Message) {
	t.Helper()
	switch m.Type {
	case TypeState:
		if v.started && m.Seq < v.seq {
			t.Fatalf("state seq %d after seq %d", m.Seq, v.seq)
		}
		v.seq, v.started = m.Seq, true
		v.overlays = append([]Overlay(nil), m.Overlays...)
	case TypeShow, TypeHide:
		if !v.started {
			t.Fatalf("%s before any state", m.Type)
		}
		if m.Seq != v.seq+1 {
			t.Fatalf("%s seq %d after seq %d", m.Type, m.Seq, v.seq)
		}
		v.seq = m.Seq
		id := m.ID
		if m.Overlay != nil {
			id = m.Overlay.ID
		}
		i := -1
		for j, o := range v.overlays {
			if o.ID == id {
				i = j
			}
		}
		switch {
		case m.Type == TypeShow && i >= 0:
			v.overlays[i] = *m.Overlay
		case m.Type == TypeShow:
			v.overlays = append(v.overlays, *m.Overlay)
		case i >= 0:
			v.overlays = append(v.overlays[:i], v.overlays[i+1:]...)
		}
	case TypeStock:
		if v.stock == nil {
			v.stock = map[string]int{}
		}
		v.stock[m.Drop+"/"+m.SKU] = *m.Left
	case TypeDrop:
		if m.State == "closed" {
			kept := v.overlays[:0]
			for _, o := range v.overlays {
				if o.Drop != m.Drop {
					kept = append(kept, o)
				}
			}
			v.overlays = kept
		}
	}
}
