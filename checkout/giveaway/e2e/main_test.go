package e2e

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/checkout/giveaway/giveawayhttp"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/nodetest"
	"github.com/livedrop/livedrop/internal/proof"
)

const (
	envChild  = "LIVEDROP_GIVEAWAY_EDGE_CHILD"
	envRedis  = "LIVEDROP_REDIS_ADDR"
	envListen = "LIVEDROP_LISTEN"
)

// nodeSecret is the edges' shared secret (access.node_secrets): a watch
// proof one edge signs, every edge verifies.
const nodeSecret = "giveaway-e2e-node-secret-0123456789"

func TestMain(m *testing.M) {
	nodetest.Main(m, envChild, runChild)
}

// newGate is the watch-proof gate every edge (and the test, which signs
// the viewers' proofs) builds from nodeSecret.
func newGate(reg prometheus.Registerer) (*proof.Gate, error) {
	return proof.New(proof.Params{Config: proof.Defaults(), NodeSecrets: []string{nodeSecret}, Registerer: reg})
}

// buyerOrders adapts the checkout store's orders to the entry API's.
type buyerOrders struct{ s *checkout.RedisStore }

func (b buyerOrders) BuyerOrders(ctx context.Context, buyer string) ([]checkout.Order, error) {
	return b.s.BuyerOrders(ctx, buyer, 100)
}

// runChild runs one edge's giveaway entries behind their HTTP API until
// SIGTERM.
func runChild() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(envRedis), PoolSize: 64})
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	m, err := giveaway.NewMetrics(reg)
	if err != nil {
		return err
	}
	gw, err := giveaway.New(giveaway.Params{Store: giveaway.NewRedisStore(rdb), Metrics: m, Logger: logger})
	if err != nil {
		return err
	}
	sessions, err := buyer.NewSessions([]string{buyertest.Secret}, 24*time.Hour, nil, nil)
	if err != nil {
		return err
	}
	gate, err := newGate(reg)
	if err != nil {
		return err
	}
	api, err := giveawayhttp.NewEntryAPI(giveawayhttp.EntryParams{Giveaways: gw, Sessions: sessions, Watch: gate,
		Orders: buyerOrders{checkout.NewRedisStore(rdb, logger)}, Logger: logger})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	api.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return nodetest.Serve(ctx, os.Getenv(envListen), mux, 2*time.Second)
}

// startEdge starts an edge process on Redis at redisAddr.
func startEdge(t testing.TB, id, redisAddr string) *nodetest.Child {
	t.Helper()
	return nodetest.Start(t, "edge "+id, envChild+"=1", envRedis+"="+redisAddr, envListen+"=127.0.0.1:0")
}
