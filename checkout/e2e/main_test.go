package e2e

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/nodetest"
)

// Environment of an edge child process.
const (
	envChild   = "LIVEDROP_CHECKOUT_EDGE_CHILD"
	envRedis   = "LIVEDROP_REDIS_URL"
	envDataDir = "LIVEDROP_DATA_DIR"
	envEdgeID  = "LIVEDROP_EDGE_ID"
	envConfig  = "LIVEDROP_CHECKOUT_CONFIG" // YAML of checkout.Config
	envListen  = "LIVEDROP_LISTEN"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{}) // the client logs every failed dial while tests stop Redis
	nodetest.Main(m, envChild, runChild)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// runChild runs one edge: checkout.Edge behind its HTTP API, until SIGTERM
// (drain) or SIGKILL (nothing).
func runChild() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := checkout.Defaults()
	if err := yaml.Unmarshal([]byte(os.Getenv(envConfig)), &cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cfg.RedisURL = os.Getenv(envRedis)
	store, err := checkout.OpenStore(ctx, cfg, os.Getenv(envDataDir), logger)
	if err != nil {
		return err
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	wl, err := childWallet(store, cfg, reg, logger) // wallet_test.go
	if err != nil {
		return err
	}
	edge, err := checkout.NewEdge(checkout.EdgeParams{Logger: logger, Registerer: reg, Config: cfg,
		DataDir: os.Getenv(envDataDir), EdgeID: os.Getenv(envEdgeID), Store: store, Payment: wl.payments})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	// Every edge of the sale shares the key, as edges share the node secret.
	tokens, err := checkouthttp.NewOrderTokens([]byte("checkout-e2e-order-token-key"))
	if err != nil {
		return err
	}
	// Every edge verifies the sessions the tests mint with buyertest's secret.
	sessions, err := buyer.NewSessions([]string{buyertest.Secret}, 24*time.Hour, nil, nil)
	if err != nil {
		return err
	}
	api, err := checkouthttp.NewEdgeAPI(checkouthttp.EdgeParams{Edge: edge, Tokens: tokens, Sessions: sessions,
		Orders: edge, Logger: logger})
	if err != nil {
		return err
	}
	api.Register(mux)
	wl.register(mux, sessions, logger)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	runDone := make(chan error, 1)
	go func() { runDone <- edge.Run(ctx) }()
	select {
	case <-edge.Ready():
	case err := <-runDone:
		return err
	}
	if err := nodetest.Serve(ctx, os.Getenv(envListen), mux, 5*time.Second); err != nil {
		return err
	}
	return <-runDone
}

// startEdge starts an edge process serving on listen with cfg, its
// journal under dataDir.
func startEdge(t testing.TB, id, dataDir, redisURL, listen string, cfg checkout.Config) *nodetest.Child {
	t.Helper()
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return nodetest.Start(t, "edge "+id, envChild+"=1", envRedis+"="+redisURL, envDataDir+"="+dataDir,
		envEdgeID+"="+id, envConfig+"="+string(y), envListen+"="+listen)
}

// counter sums the samples of the metric name whose labels contain label,
// as an edge serves them on /metrics (0 when it does not answer).
func counter(t testing.TB, base, name, label string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
			continue
		}
		var v float64
		if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v); err == nil {
			sum += v
		}
	}
	return sum
}
