package checkouthttp

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/proof"
	"github.com/livedrop/livedrop/internal/redistest"
)

// gatedEdge is one edge's order handler with its own gate, on a shared store.
func gatedEdge(t *testing.T, st checkout.Store, id string, secrets ...string) (*http.ServeMux, *proof.Gate) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	cfg := checkout.Defaults()
	cfg.SyncInterval = 20 * time.Millisecond
	cfg.RateLimitPerBuyer = 0
	e, err := checkout.NewEdge(checkout.EdgeParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, DataDir: t.TempDir(), EdgeID: id, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-e.Ready()
	pcfg := proof.Defaults()
	pcfg.PoWBaseBits, pcfg.PoWMaxBits = 8, 8
	g, err := proof.New(proof.Params{Config: pcfg, NodeSecrets: secrets, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := NewOrderTokens([]byte("order-token-key-0123456789"))
	api, err := NewEdgeAPI(EdgeParams{Edge: e, Tokens: tokens, Sessions: gateBuyers(t).Sessions(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	api.SetGate(g)
	mux := http.NewServeMux()
	api.RegisterOrders(mux)
	return mux, g
}

// gateBuyers signs the gate tests' buyers in: one session per name on
// every edge of a test, the buyer id proofs are issued for (gateBuyers(t).ID).
var (
	gateBuyersOnce sync.Once
	gateBuyersSet  *buyertest.Buyers
)

func gateBuyers(t testing.TB) *buyertest.Buyers {
	gateBuyersOnce.Do(func() { gateBuyersSet = buyertest.New(t, "") })
	return gateBuyersSet
}

// order posts an order as the signed-in buyer called buyer.
func order(t *testing.T, mux *http.ServeMux, drop, buyer, key string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "/v1/drops/"+drop+"/orders", strings.NewReader(`{"sku":"tee","qty":1}`))
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Authorization", gateBuyers(t).Bearer(buyer))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("non-JSON answer %q", rec.Body)
	}
	return rec.Code, m
}

// TestGatedOrderThroughAnyEdge: proofs made at edge A buy at edge B (no
// round trip: both derive their keys from the node secret); the retry of
// that order through A with the same key and proofs gets the same order;
// the same solved challenge for another order is a replay; an order
// without proofs is told what is missing, with a stable code.
func TestGatedOrderThroughAnyEdge(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	st, err := checkout.OpenRedisStore(context.Background(), srv.URL(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	d := checkout.Drop{ID: "g1", Stream: "live", Gate: checkout.Gate{WatchSeconds: 10, ProofOfWork: true},
		SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee", PriceCents: 100, Currency: "EUR", Stock: 10}}}
	if err := st.CreateDrop(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := st.SetState(ctx, "g1", checkout.StateOpen); err != nil {
		t.Fatal(err)
	}
	const secret = "shared-node-secret-0123"
	a, ga := gatedEdge(t, st, "a", secret)
	b, _ := gatedEdge(t, st, "b", secret)

	st0, body := order(t, b, "g1", "ann", "k1", nil)
	if st0 != 403 || body["code"] != "watch_required" || body["seconds_left"] != 10.0 {
		t.Fatalf("no proofs: %d %v", st0, body)
	}
	now := time.Now()
	_, w, err := ga.IssueWatch(gateBuyers(t).ID("ann"), "sess", proof.SessionState{Stream: "live", Connected: true, Receiving: now.Add(-12 * time.Second), LastReport: now}, now)
	if err != nil {
		t.Fatal(err)
	}
	if st0, body := order(t, b, "g1", "ann", "k1", map[string]string{WatchProofHeader: w}); st0 != 403 || body["code"] != "pow_required" {
		t.Fatalf("watch proof only: %d %v", st0, body)
	}
	c, _ := ga.IssueChallenge(gateBuyers(t).ID("ann"), now)
	proofs := map[string]string{WatchProofHeader: w, PoWHeader: c.Token + "." + strconv.FormatUint(proof.Solve(c.Seed, c.Bits), 10), PoWSolveHeader: "12"}
	st1, first := order(t, b, "g1", "ann", "k1", proofs)
	if st1 != 201 {
		t.Fatalf("order at edge b with edge a's proofs: %d %v", st1, first)
	}
	st2, again := order(t, a, "g1", "ann", "k1", proofs)
	if st2 != 201 || again["id"] != first["id"] {
		t.Fatalf("retry through edge a: %d %v, want order %v", st2, again, first["id"])
	}
	if st0, body := order(t, b, "g1", "ann", "k2", proofs); st0 != 403 || body["code"] != "pow_replayed" {
		t.Fatalf("the challenge for another order: %d %v", st0, body)
	}
}
