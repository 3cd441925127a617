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

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/checkout/giveaway/giveawayhttp"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
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
	if os.Getenv(envChild) == "1" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "giveaway edge child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
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
	ln, err := net.Listen("tcp", os.Getenv(envListen))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("LISTEN http://%s\n", ln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// child is an edge process started by a test.
type child struct {
	cmd  *exec.Cmd
	URL  string
	done chan struct{}
	log  string
}

func startEdge(t testing.TB, id, redisAddr string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=1", envRedis+"="+redisAddr, envListen+"=127.0.0.1:0")
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
	c := &child{cmd: cmd, done: make(chan struct{}), log: logPath}
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
		b, _ := os.ReadFile(logPath)
		t.Fatalf("edge %s exited before listening; log:\n%s", id, b)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("edge %s did not listen within 30s", id)
	}
	t.Cleanup(func() {
		select {
		case <-c.done:
			return
		default:
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Signal(syscall.SIGKILL)
			<-c.done
		}
	})
	return c
}
