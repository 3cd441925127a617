package checkout

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/redistest"
)

var benchSeq atomic.Int64

// BenchmarkAccept measures order acceptance at one edge: selling from leases
// (journal + group commit, shipped in the background) against selling
// straight against Redis for every order. Both run in one invocation:
//
//	go test -run '^$' -bench Accept -benchmem ./checkout/
func BenchmarkAccept(b *testing.B) {
	// Redis fsyncs every write, as the edge journal does: both paths are durable.
	srv := redistest.Start(b, redistest.Options{AppendOnly: true, AppendFsync: "always"})
	store, err := OpenRedisStore(context.Background(), srv.URL(), testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	for _, mode := range []string{"lease", "direct"} {
		b.Run(mode, func(b *testing.B) {
			cfg := Defaults()
			cfg.RateLimitPerBuyer = 0
			cfg.LeaseMin, cfg.LeaseMax = 2000, 20000
			if mode == "direct" {
				cfg.DirectThreshold = MaxStock // never lease: every order goes to Redis
			}
			drop := fmt.Sprintf("bench%d", benchSeq.Add(1))
			ctx := context.Background()
			d := Drop{ID: drop, Stream: "s", SKUs: []SKU{{SKU: "tee", PriceCents: 100, Currency: "EUR", Stock: MaxStock}}}
			if err := store.CreateDrop(ctx, d); err != nil {
				b.Fatal(err)
			}
			if err := store.SetState(ctx, drop, StateOpen); err != nil {
				b.Fatal(err)
			}
			e, err := NewEdge(EdgeParams{Logger: testLogger(b), Registerer: prometheus.NewRegistry(), Config: cfg, DataDir: b.TempDir(), EdgeID: "bench", Store: store})
			if err != nil {
				b.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { _ = e.Run(rctx); close(done) }()
			defer func() { cancel(); <-done }()
			<-e.Ready()
			if mode == "lease" {
				deadline := time.Now().Add(10 * time.Second)
				for e.StockLeft(drop)["tee"] == 0 || mustTotals(b, store, drop).HeldAtEdges == 0 {
					if time.Now().After(deadline) {
						b.Fatal("no lease")
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			var (
				mu   sync.Mutex
				lats = make([]time.Duration, 0, b.N)
				seq  atomic.Int64
			)
			b.SetParallelism(32) // 64 concurrent buyers on 2 cores
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					n := seq.Add(1)
					buyer := "b" + fmt.Sprint(n)
					t0 := time.Now()
					_, err := e.PlaceOrder(ctx, OrderRequest{Drop: drop, SKU: "tee", Qty: 1, Buyer: buyer, IdempotencyKey: buyer})
					if err != nil {
						b.Error(err)
						return
					}
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				lats = append(lats, local...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lats)
			if len(lats) > 0 {
				b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "orders/s")
				b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
