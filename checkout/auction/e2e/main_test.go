package e2e

import (
	"context"
	"errors"
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
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/auction/auctionhttp"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/nodetest"
)

const (
	envChild  = "LIVEDROP_AUCTION_EDGE_CHILD"
	envRedis  = "LIVEDROP_REDIS_ADDR"
	envListen = "LIVEDROP_LISTEN"
)

func TestMain(m *testing.M) {
	nodetest.Main(m, envChild, runChild)
}

// runChild runs one edge's auction side behind its HTTP API until SIGTERM.
func runChild() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv(envRedis), PoolSize: 64})
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	m, err := auction.NewEdgeMetrics(reg)
	if err != nil {
		return err
	}
	e, err := auction.NewEdge(auction.EdgeParams{Store: auction.NewRedisStore(rdb), Payments: checkout.NewTestProvider(checkout.PaymentConfig{}),
		HoldOn: auction.HoldOnBid, Metrics: m, Logger: logger})
	if err != nil {
		return err
	}
	sessions, err := buyer.NewSessions([]string{buyertest.Secret}, 24*time.Hour, nil, nil)
	if err != nil {
		return err
	}
	api, err := auctionhttp.NewEdgeAPI(e, sessions, logger)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	api.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	runDone := make(chan error, 1)
	go func() { runDone <- e.Run(ctx) }()
	if err := nodetest.Serve(ctx, os.Getenv(envListen), mux, 2*time.Second); err != nil {
		return err
	}
	if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// startEdge starts an edge process on Redis at redisAddr.
func startEdge(t testing.TB, id, redisAddr string) *nodetest.Child {
	t.Helper()
	return nodetest.Start(t, "edge "+id, envChild+"=1", envRedis+"="+redisAddr, envListen+"=127.0.0.1:0")
}
