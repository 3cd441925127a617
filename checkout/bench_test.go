package checkout

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/internal/redistest"
)

var benchSeq atomic.Int64

// BenchmarkAccept measures order acceptance at one edge: selling from leases
// (journal + group commit, shipped in the background) against selling
// straight against Redis for every order, and selling from leases under
// purchase limits per buyer, device and IP: with each buyer's allowances
// prepared (Prepare at sign-in; no round trip at the order) and cold (the
// first order leases them inline: one Redis call). All run in one
// invocation:
//
//	go test -run '^$' -bench Accept -benchtime=5000x -benchmem ./checkout/
func BenchmarkAccept(b *testing.B) {
	// Redis fsyncs every write, as the edge journal does: both paths are durable.
	srv := redistest.Start(b, redistest.Options{AppendOnly: true, AppendFsync: "always"})
	store, err := OpenRedisStore(context.Background(), srv.URL(), testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	for _, par := range []int{32, 1} { // 64 and 2 concurrent buyers on 2 cores
		for _, mode := range []string{"lease", "direct", "lease-limits-prepared", "lease-limits-cold"} {
			b.Run(fmt.Sprintf("%s-c%d", mode, 2*par), func(b *testing.B) {
				cfg := Defaults()
				cfg.RateLimitPerBuyer = 0
				cfg.LeaseMin, cfg.LeaseMax = 2000, 20000
				if mode == "direct" {
					cfg.DirectThreshold = MaxStock // never lease: every order goes to Redis
				}
				drop := fmt.Sprintf("bench%d", benchSeq.Add(1))
				ctx := context.Background()
				d := Drop{ID: drop, Stream: "s", SKUs: []SKU{{SKU: "tee", PriceCents: 100, Currency: "EUR", Stock: MaxStock}}}
				limited := strings.HasPrefix(mode, "lease-limits")
				if limited {
					d.SKUs[0].MaxPerBuyer, d.SKUs[0].MaxPerDevice, d.SKUs[0].MaxPerIP = 2, 2, 1000
				}
				e := benchEdge(b, store, cfg, d, "bench")
				if mode != "direct" {
					deadline := time.Now().Add(10 * time.Second)
					for e.StockLeft(drop)["tee"] == 0 || mustTotals(b, store, drop).HeldAtEdges == 0 {
						if time.Now().After(deadline) {
							b.Fatal("no lease")
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
				ip := func(n int64) string { return fmt.Sprintf("10.1.%d.%d", n/250%250, n%250) }
				if mode == "lease-limits-prepared" {
					// Every buyer signed in before the drop: allowances in place.
					grants := func() float64 { return testutil.ToFloat64(e.m.allowance.WithLabelValues("granted")) }
					base := grants()
					for n := int64(1); n <= int64(b.N); n++ {
						for !e.prepareQueued(fmt.Sprint("b", n), fmt.Sprint("d", n), ip(n)) {
							time.Sleep(time.Millisecond) // the sync loop drains the queue
						}
					}
					deadline := time.Now().Add(60 * time.Second)
					for grants()-base < float64(3*b.N) {
						if time.Now().After(deadline) {
							b.Fatalf("only %v allowances prepared for %d buyers", grants()-base, b.N)
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
				var (
					mu   sync.Mutex
					lats = make([]time.Duration, 0, b.N)
					seq  atomic.Int64
				)
				b.SetParallelism(par)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					local := make([]time.Duration, 0, 1024)
					for pb.Next() {
						n := seq.Add(1)
						buyer := "b" + fmt.Sprint(n)
						t0 := time.Now()
						req := OrderRequest{Drop: drop, SKU: "tee", Qty: 1, Buyer: buyer, IdempotencyKey: buyer}
						if limited {
							req.Device, req.IP = fmt.Sprint("d", n), ip(n)
						}
						_, err := e.PlaceOrder(ctx, req)
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
}

// BenchmarkLimitCheck is the CPU a purchase limit adds to an order sold from
// the lease, in memory (no journal, no store): the limits of a request
// (device id and address hashed) and the allowance checks, against the same
// sale without limits.
//
//	go test -run '^$' -bench LimitCheck -benchmem ./checkout/
func BenchmarkLimitCheck(b *testing.B) {
	for _, limited := range []bool{false, true} {
		name := "none"
		if limited {
			name = "buyer-device-ip"
		}
		b.Run(name, func(b *testing.B) {
			e := &Edge{cfg: Defaults(), syncKick: make(chan struct{}, 1)}
			def := SKU{SKU: "tee", PriceCents: 100, Currency: "EUR", Stock: MaxStock}
			if limited {
				def.MaxPerBuyer, def.MaxPerDevice, def.MaxPerIP = MaxQty, MaxStock, MaxStock
			}
			sk := &edgeSKU{def: def, allow: map[string]*allowance{}, avail: 1 << 40, recovered: true, deadline: time.Now().Add(time.Hour)}
			until := time.Now().Add(time.Hour)
			for _, l := range limitsOf(def, "alice", "phone-1", "198.51.100.7") {
				sk.allow[l.Key] = &allowance{left: 1 << 40, until: until}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				lims := limitsOf(def, "alice", "phone-1", "198.51.100.7")
				o := Order{Qty: 1, Limits: limitKeys(lims)}
				if ok, need, over := e.sellFromLease(sk, o, lims); !ok || need != nil || over != "" {
					b.Fatalf("not sold: %v %v %q", ok, need, over)
				}
			}
		})
	}
}

// benchEdge opens drop d in store and runs an edge on it until the
// benchmark ends; it returns once the edge is ready.
func benchEdge(b *testing.B, store Store, cfg Config, d Drop, id string) *Edge {
	b.Helper()
	ctx := context.Background()
	if err := store.CreateDrop(ctx, d); err != nil {
		b.Fatal(err)
	}
	if err := store.SetState(ctx, d.ID, StateOpen); err != nil {
		b.Fatal(err)
	}
	e, err := NewEdge(EdgeParams{Logger: testLogger(b), Registerer: prometheus.NewRegistry(), Config: cfg, DataDir: b.TempDir(), EdgeID: id, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = e.Run(rctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	<-e.Ready()
	return e
}
