package e2e

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
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
	if os.Getenv(envChild) == "1" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "edge child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	redis.SetLogger(quietLogger{}) // the client logs every failed dial while tests stop Redis
	os.Exit(m.Run())
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
	ln, err := net.Listen("tcp", os.Getenv(envListen))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	runDone := make(chan error, 1)
	go func() { runDone <- edge.Run(ctx) }()
	select {
	case <-edge.Ready():
	case err := <-runDone:
		return err
	}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("LISTEN http://%s\n", ln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return <-runDone
}

// child is an edge process started by a test.
type child struct {
	t    testing.TB
	cmd  *exec.Cmd
	URL  string
	done chan struct{}
	log  string
}

// startEdge re-executes the test binary as an edge and waits for its address.
func startEdge(t testing.TB, id, dataDir, redisURL, listen string, cfg checkout.Config) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envRedis+"="+redisURL, envDataDir+"="+dataDir,
		envEdgeID+"="+id, envConfig+"="+string(y), envListen+"="+listen)
	logPath := filepath.Join(t.TempDir(), id+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = lf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, done: make(chan struct{}), log: logPath}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
				lines <- u
			}
		}
	}()
	go func() { _ = cmd.Wait(); lf.Close(); close(c.done) }()
	select {
	case c.URL = <-lines:
	case <-c.done:
		t.Fatalf("edge %s exited before listening; log:\n%s", id, c.logText())
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("edge %s did not listen within 30s; log:\n%s", id, c.logText())
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

func (c *child) logText() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (c *child) Kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// Stop sends SIGTERM (drain) and waits; SIGKILL after 20s.
func (c *child) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.t.Errorf("edge did not drain within 20s; killing")
		c.Kill()
	}
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
