package checkouthttp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/redistest"
)

// tableSessions knows the sessions of a table: what an order costs
// without a token to verify (the "before" of the session check).
type tableSessions map[string]buyer.Session

func (t tableSessions) Verify(tok string) (buyer.Session, error) {
	if s, ok := t[tok]; ok {
		return s, nil
	}
	return buyer.Session{}, &buyer.Refusal{Class: buyer.ErrSession, Reason: "missing", Msg: "no session"}
}

// BenchmarkPlaceOrderHTTP is order acceptance through the HTTP handler
// (no network) at one edge selling from its lease, 64 buyers at once, each
// order by a distinct signed-in buyer: with the session verified (jwt) and,
// in the same run, with sessions looked up in a table (no verification).
// It reports p50 and p99 of the handler's time.
//
//	go test -run '^$' -bench PlaceOrderHTTP -benchtime 20000x ./checkout/checkouthttp/
func BenchmarkPlaceOrderHTTP(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	log := slog.New(slog.DiscardHandler)
	st, err := checkout.OpenRedisStore(context.Background(), srv.URL(), log)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	jwtSessions, err := buyer.NewSessions([]string{"bench-session-secret-0123456789"}, time.Hour, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	tokens, _ := NewOrderTokens([]byte("order-token-key-0123456789"))
	for i, mode := range []string{"jwt", "table"} {
		b.Run(mode, func(b *testing.B) {
			cfg := checkout.Defaults()
			// One client address and device for every buyer: the limits
			// that count those would refuse all but the first few.
			cfg.RateLimitPerBuyer, cfg.RateLimitPerDevice, cfg.RateLimitPerIP = 0, 0, 0
			cfg.LeaseMin, cfg.LeaseMax = 2000, 20000
			drop := fmt.Sprintf("hb%d-%d", i, time.Now().UnixNano())
			ctx := context.Background()
			if err := st.CreateDrop(ctx, checkout.Drop{ID: drop, Stream: "s", SKUs: []checkout.SKU{{SKU: "tee", PriceCents: 100, Currency: "EUR", Stock: checkout.MaxStock}}}); err != nil {
				b.Fatal(err)
			}
			if err := st.SetState(ctx, drop, checkout.StateOpen); err != nil {
				b.Fatal(err)
			}
			e := benchEdge(b, ctx, log, prometheus.NewRegistry(), cfg, st)
			for deadline := time.Now().Add(10 * time.Second); e.StockLeft(drop)["tee"] == 0; {
				if time.Now().After(deadline) {
					b.Fatal("no lease")
				}
				time.Sleep(10 * time.Millisecond)
			}
			// One signed-in buyer per order, minted before the clock runs.
			toks := make([]string, b.N)
			table := tableSessions{}
			for n := range toks {
				tok, s, err := jwtSessions.Mint(buyer.NewGuestID(), "bench-device", buyer.KindGuest)
				if err != nil {
					b.Fatal(err)
				}
				toks[n], table[tok] = tok, s
			}
			var sessions Sessions = jwtSessions
			if mode == "table" {
				sessions = table
			}
			api, err := NewEdgeAPI(EdgeParams{Edge: e, Tokens: tokens, Sessions: sessions, Logger: log})
			if err != nil {
				b.Fatal(err)
			}
			mux := http.NewServeMux()
			api.Register(mux)
			var (
				mu       sync.Mutex
				lats     = make([]time.Duration, 0, b.N)
				seq      atomic.Int64
				bad      atomic.Int64
				firstBad atomic.Value
			)
			path := "/v1/drops/" + drop + "/orders"
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					n := seq.Add(1) - 1
					r := httptest.NewRequest("POST", path, strings.NewReader(`{"sku":"tee","qty":1}`))
					r.Header.Set("Authorization", "Bearer "+toks[n])
					r.Header.Set("Idempotency-Key", fmt.Sprint("k", n))
					w := httptest.NewRecorder()
					t0 := time.Now()
					mux.ServeHTTP(w, r)
					local = append(local, time.Since(t0))
					if w.Code != http.StatusCreated {
						if bad.Add(1) == 1 {
							firstBad.Store(fmt.Sprintf("%d %s", w.Code, w.Body.String()))
						}
					}
				}
				mu.Lock()
				lats = append(lats, local...)
				mu.Unlock()
			})
			b.StopTimer()
			if n := bad.Load(); n > 0 {
				b.Fatalf("%d orders not accepted (first: %v)", n, firstBad.Load())
			}
			slices.Sort(lats)
			b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// benchEdge runs an edge on st for the benchmark, ready, stopped (and
// waited for) when it ends.
func benchEdge(b *testing.B, ctx context.Context, log *slog.Logger, reg prometheus.Registerer, cfg checkout.Config, st checkout.Store) *checkout.Edge {
	b.Helper()
	e, err := checkout.NewEdge(checkout.EdgeParams{Logger: log, Registerer: reg, Config: cfg, DataDir: b.TempDir(), EdgeID: "bench", Store: st})
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
