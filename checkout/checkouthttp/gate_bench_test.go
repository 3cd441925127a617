package checkouthttp

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/proof"
	"github.com/livedrop/livedrop/internal/redistest"
)

// BenchmarkGatedOrder is order acceptance through the HTTP handler at one
// edge, selling from its lease (journal, group commit), for a drop without
// a gate and for one asking watch time and a proof of work, in one run:
//
//	go test -run '^$' -bench GatedOrder -benchmem ./checkout/checkouthttp/
//
// p50/p99 are per order, with 2×parallel concurrent buyers per core.
func BenchmarkGatedOrder(b *testing.B) {
	const parallel = 1
	srv := redistest.Start(b, redistest.Options{AppendOnly: true, AppendFsync: "always"})
	log := slog.New(slog.DiscardHandler)
	st, err := checkout.OpenRedisStore(context.Background(), srv.URL(), log)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, gated := range []bool{false, true} {
		name := "ungated"
		if gated {
			name = "watch+pow"
		}
		b.Run(name, func(b *testing.B) {
			cfg := checkout.Defaults()
			cfg.RateLimitPerBuyer = 0
			cfg.LeaseMin, cfg.LeaseMax = 2000, 20000
			ctx := context.Background()
			drop := "gb" + strconv.FormatInt(time.Now().UnixNano(), 36)
			d := checkout.Drop{ID: drop, Stream: "live", SKUs: []checkout.SKU{{SKU: "tee", PriceCents: 100, Currency: "EUR", Stock: checkout.MaxStock}}}
			if gated {
				d.Gate = checkout.Gate{WatchSeconds: 30, ProofOfWork: true}
			}
			if err := st.CreateDrop(ctx, d); err != nil {
				b.Fatal(err)
			}
			if err := st.SetState(ctx, drop, checkout.StateOpen); err != nil {
				b.Fatal(err)
			}
			e, err := checkout.NewEdge(checkout.EdgeParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, DataDir: b.TempDir(), EdgeID: "bench", Store: st})
			if err != nil {
				b.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { _ = e.Run(rctx); close(done) }()
			defer func() { cancel(); <-done }()
			<-e.Ready()
			deadline := time.Now().Add(10 * time.Second)
			for e.StockLeft(drop)["tee"] == 0 {
				if time.Now().After(deadline) {
					b.Fatal("no lease")
				}
				time.Sleep(10 * time.Millisecond)
			}
			pcfg := proof.Defaults()
			pcfg.PoWBaseBits, pcfg.PoWMaxBits = 4, 4 // verification costs the same at any difficulty
			gate, err := proof.New(proof.Params{Config: pcfg, NodeSecrets: []string{"bench-node-secret-0123"}, Registerer: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			tokens, _ := NewOrderTokens([]byte("order-token-key-0123456789"))
			buyers := buyertest.New(b, "")
			api, err := NewEdgeAPI(EdgeParams{Edge: e, Tokens: tokens, Sessions: buyers.Sessions(), Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			api.SetGate(gate)
			mux := http.NewServeMux()
			api.RegisterOrders(mux)

			// The requests and their proofs are made before the clock starts,
			// as a page makes its proofs before the tap.
			reqs := make([]*http.Request, b.N)
			for i := range reqs {
				name := "b" + strconv.Itoa(i)
				buyer := buyers.ID(name)
				req := httptest.NewRequest("POST", "/v1/drops/"+drop+"/orders", strings.NewReader(`{"sku":"tee","qty":1}`))
				req.Header.Set("Idempotency-Key", name)
				req.Header.Set("Authorization", buyers.Bearer(name))
				if gated {
					now := time.Now()
					_, w, err := gate.IssueWatch(buyer, "s-"+buyer, proof.SessionState{Stream: "live", Connected: true,
						Receiving: now.Add(-time.Minute), LastReport: now}, now)
					if err != nil {
						b.Fatal(err)
					}
					c, _ := gate.IssueChallenge(buyer, now)
					req.Header.Set(WatchProofHeader, w)
					req.Header.Set(PoWHeader, c.Token+"."+strconv.FormatUint(proof.Solve(c.Seed, c.Bits), 10))
				}
				reqs[i] = req
			}
			var (
				mu   sync.Mutex
				lats = make([]time.Duration, 0, b.N)
				seq  atomic.Int64
			)
			b.SetParallelism(parallel)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					req := reqs[seq.Add(1)-1]
					rec := httptest.NewRecorder()
					t0 := time.Now()
					mux.ServeHTTP(rec, req)
					local = append(local, time.Since(t0))
					if rec.Code != http.StatusCreated {
						b.Errorf("order: %d %s", rec.Code, rec.Body)
						return
					}
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
