package overlay

import (
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// fanoutEdge is an edge hub whose stream cam1 shows product d1/tee to n
// viewers; its clock moves a second per reading, so every stock update is
// flushed at once.
func fanoutEdge(tb testing.TB, n int) (*EdgeHub, []<-chan []byte) {
	tb.Helper()
	clock := &fakeClock{t: time.Unix(1000, 0)}
	now := func() time.Time { clock.Add(time.Second); return clock.Now() }
	cfg := Defaults()
	h := newEdge(tb, cfg, &fakeStock{}, nil, now)
	ingest(tb, h, "cam1", encodeState(1, []Overlay{goldenProduct}))
	chans := make([]<-chan []byte, n)
	for i := range chans {
		ch, cancel := h.Subscribe("cam1")
		tb.Cleanup(cancel)
		<-ch
		chans[i] = ch
	}
	return h, chans
}

func drain(chans []<-chan []byte) (distinct int) {
	var last *byte
	for _, ch := range chans {
		m := <-ch
		if p := &m[0]; p != last {
			distinct++
			last = p
		}
	}
	return distinct
}

// BenchmarkStockFanout10k: one stock update of a stream fanned out to 10,000
// viewer queues. The message is encoded once and shared by all.
func BenchmarkStockFanout10k(b *testing.B) {
	h, chans := fanoutEdge(b, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.onStock(checkout.StockLevel{Drop: "d1", SKU: "tee", Left: i % 1000})
		b.StopTimer()
		if d := drain(chans); d != 1 {
			b.Fatalf("%d distinct encodings for one update", d)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10_000, "ns/viewer")
}

// TestStockFanoutAllocs asserts the budget: one update costs the same few
// allocations for 1 viewer and for 1,000 (one encode, nothing per viewer).
func TestStockFanoutAllocs(t *testing.T) {
	var per [2]float64
	for i, n := range []int{1, 1000} {
		h, chans := fanoutEdge(t, n)
		left := 0
		per[i] = testing.AllocsPerRun(50, func() {
			left++
			h.onStock(checkout.StockLevel{Drop: "d1", SKU: "tee", Left: left})
			if d := drain(chans); d != 1 {
				t.Fatalf("%d distinct encodings for one update", d)
			}
		})
	}
	if per[0] > 3 || per[1] != per[0] {
		t.Fatalf("allocations per update: %v with 1 viewer, %v with 1000; want <= 3 and equal", per[0], per[1])
	}
}
