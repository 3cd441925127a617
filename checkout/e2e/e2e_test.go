package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/loadgen"
	"github.com/livedrop/livedrop/internal/redistest"
)

type cluster struct {
	srv   *redistest.Server
	store checkout.Store
	ctl   *checkout.Control
	rdb   *redis.Client
	cfg   checkout.Config
}

func newCluster(t testing.TB, opts redistest.Options, cfg checkout.Config) *cluster {
	t.Helper()
	signedIn(t)
	srv := redistest.Start(t, opts)
	cfg.RedisURL = srv.URL()
	log := slog.New(slog.DiscardHandler)
	st, err := checkout.OpenRedisStore(context.Background(), srv.URL(), log)
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { cancel(); <-done; st.Close(); rdb.Close() })
	return &cluster{srv: srv, store: st, ctl: ctl, rdb: rdb, cfg: cfg}
}

func baseConfig() checkout.Config {
	c := checkout.Defaults()
	c.RateLimitPerBuyer = 0
	c.SyncInterval = 50 * time.Millisecond
	return c
}

func (c *cluster) openDrop(t testing.TB, id string, stock int) {
	t.Helper()
	d := checkout.Drop{ID: id, Stream: "cam1", SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee", PriceCents: 1999, Currency: "EUR", Stock: stock}}}
	if _, err := c.ctl.CreateDrop(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if err := c.ctl.Open(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) totals(t testing.TB, drop string) checkout.SKUTotals {
	t.Helper()
	tot, err := c.store.Totals(context.Background(), drop)
	if err != nil {
		t.Fatalf("totals: %v", err)
	}
	return tot.SKUs[0]
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// storedOrders reads every order of drop from Redis.
func (c *cluster) storedOrders(t testing.TB, drop string) map[string]checkout.Order {
	t.Helper()
	m, err := c.rdb.HGetAll(context.Background(), "{drop:"+drop+"}:orders").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]checkout.Order{}
	for id, enc := range m {
		var o checkout.Order
		if err := json.Unmarshal([]byte(enc), &o); err != nil {
			t.Fatal(err)
		}
		out[id] = o
	}
	return out
}

// createdEvents counts "created" entries per order id in the drop's stream.
func (c *cluster) createdEvents(t testing.TB, drop string) map[string]int {
	t.Helper()
	msgs, err := c.rdb.XRange(context.Background(), "{drop:"+drop+"}:stream", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range msgs {
		if m.Values["event"] == "created" {
			out[fmt.Sprint(m.Values["id"])]++
		}
	}
	return out
}

func TestThreeEdgesFiveThousandBuyers(t *testing.T) {
	cfg := baseConfig()
	c := newCluster(t, redistest.Options{}, cfg)
	c.openDrop(t, "big", 100)
	var urls []string
	for i := range 3 {
		e := startEdge(t, fmt.Sprintf("edge%d", i), t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg)
		urls = append(urls, e.URL)
	}
	sum, err := loadgen.RunBuyers(context.Background(), loadgen.Params{
		Edges: urls, Drop: "big", SKU: "tee", Buyers: 5000, Concurrency: 5000, ConnsPerEdge: 64, Timeout: 30 * time.Second,
		SignIn: mintedSessions(t, "buyer"),
	})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(sum)
	t.Logf("summary: %s", js)
	if sum.Accepted != 100 || sum.AcceptedUnits != 100 || sum.Final["sold_out"] != 4900 || sum.Unanswered != 0 || sum.Contradictions != 0 {
		t.Fatalf("want exactly 100 accepted and 4900 sold out, every buyer answered: %s", js)
	}
	if !sum.Consistency.OK {
		t.Fatalf("consistency: %+v", sum.Consistency)
	}
	orders := c.storedOrders(t, "big")
	events := c.createdEvents(t, "big")
	for _, id := range sum.OrderIDs {
		if o, ok := orders[id]; !ok || o.Status == checkout.StatusCancelled {
			t.Fatalf("accepted order %s not in Redis: %+v", id, o)
		}
		if events[id] != 1 {
			t.Fatalf("order %s has %d created events in the stream, want 1", id, events[id])
		}
	}
	if len(orders) != 100 {
		t.Fatalf("%d orders in Redis, want 100", len(orders))
	}
	if tt := c.totals(t, "big"); tt.Sold != 100 || tt.Free != 0 || tt.HeldAtEdges != 0 {
		t.Fatalf("totals %+v", tt)
	}
}

type buyerResult struct {
	code  int
	id    string
	order checkout.Order // the answer's order, on 201
}

// buyers signs the tests' buyers in: a session per name, minted with the
// secret the edge children verify.
var (
	buyersOnce sync.Once
	buyers     *buyertest.Buyers
)

func signedIn(t testing.TB) *buyertest.Buyers {
	buyersOnce.Do(func() { buyers = buyertest.New(t, "") })
	return buyers
}

// mintedSessions signs loadgen's buyers in without a request: buyer i is
// prefix-i.
func mintedSessions(t testing.TB, prefix string) func(context.Context, int) (string, error) {
	b := signedIn(t)
	return func(_ context.Context, i int) (string, error) { return b.Token(fmt.Sprintf("%s-%d", prefix, i)), nil }
}

func order(client *http.Client, edge, drop, buyer, key string) (buyerResult, error) {
	body, _ := json.Marshal(map[string]any{"sku": "tee", "qty": 1})
	req, _ := http.NewRequest("POST", edge+"/v1/drops/"+drop+"/orders", bytes.NewReader(body))
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Authorization", buyers.Bearer(buyer))
	resp, err := client.Do(req)
	if err != nil {
		return buyerResult{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var o checkout.Order
	_ = json.Unmarshal(data, &o)
	return buyerResult{code: resp.StatusCode, id: o.ID, order: o}, nil
}

func TestSIGKILLEdgeLosesNothing(t *testing.T) {
	cfg := baseConfig()
	cfg.LeaseMin = 20
	c := newCluster(t, redistest.Options{AppendOnly: true}, cfg)
	const stock = 300
	c.openDrop(t, "kill", stock)
	dir1 := t.TempDir()
	e1 := startEdge(t, "victim", dir1, c.srv.URL(), "127.0.0.1:0", cfg)
	e2 := startEdge(t, "other", t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg)
	eventually(t, 10*time.Second, "leases at both edges", func() bool { return c.totals(t, "kill").HeldAtEdges >= 40 })

	client := &http.Client{Timeout: 10 * time.Second}
	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	// Buyers hammer the victim until it is killed.
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				b := fmt.Sprintf("w%d-%d", w, i)
				r, err := order(client, e1.URL, "kill", b, b)
				if err != nil {
					return // the edge died under us: no 201, nothing promised
				}
				if r.code == 201 {
					mu.Lock()
					accepted[r.id] = true
					mu.Unlock()
				}
			}
		}()
	}
	eventually(t, 20*time.Second, "30 orders at the victim", func() bool { mu.Lock(); defer mu.Unlock(); return len(accepted) >= 30 })
	e1.Kill()
	close(stop)
	wg.Wait()
	mu.Lock()
	beforeKill := len(accepted)
	mu.Unlock()
	t.Logf("%d orders acknowledged by the victim before SIGKILL", beforeKill)

	// Restart on the same data dir: it replays its journal, ships, and
	// recovers its lease instead of leaving it to expire.
	e1 = startEdge(t, "victim", dir1, c.srv.URL(), "127.0.0.1:0", cfg)
	orders := func() map[string]checkout.Order { return c.storedOrders(t, "kill") }
	eventually(t, 10*time.Second, "every acknowledged order in Redis", func() bool {
		got := orders()
		for id := range accepted {
			if o, ok := got[id]; !ok || o.Status == checkout.StatusCancelled {
				return false
			}
		}
		return true
	})
	// Sell out through both edges: every unit sells long before the lease TTL.
	for i := 0; ; i++ {
		edge := []string{e1.URL, e2.URL}[i%2]
		b := fmt.Sprintf("after-%d", i)
		r, err := order(client, edge, "kill", b, b)
		if err != nil {
			t.Fatal(err)
		}
		if r.code == 201 {
			accepted[r.id] = true
		} else if r.code == 409 {
			break
		} else {
			t.Fatalf("order after restart: status %d", r.code)
		}
		if i > 2*stock {
			t.Fatal("never sold out")
		}
	}
	// Orders the victim journaled but never acknowledged (killed before it
	// answered) are sold too: acknowledged orders are a subset of the stored.
	eventually(t, 10*time.Second, "books to settle", func() bool {
		tt := c.totals(t, "kill")
		return tt.Sold == stock && tt.HeldAtEdges == 0
	})
	tt := c.totals(t, "kill")
	got := orders()
	live := 0
	for _, o := range got {
		if o.Status != checkout.StatusCancelled {
			live++
		}
	}
	if tt.Free != 0 || tt.Orders != stock || live != stock || len(accepted) > stock {
		t.Fatalf("after kill and restart: %d acknowledged, %d live orders in Redis, totals %+v; want %d units sold once each", len(accepted), live, tt, stock)
	}
	for id := range accepted {
		if o, ok := got[id]; !ok || o.Status == checkout.StatusCancelled {
			t.Fatalf("acknowledged order %s lost: %+v", id, o)
		}
	}
	t.Logf("%d acknowledged, %d sold; %d journaled by the victim without an answer", len(accepted), tt.Sold, stock-len(accepted))
}

func TestRedisRestartEdgesKeepSelling(t *testing.T) {
	cfg := baseConfig()
	cfg.LeaseMin = 30
	cfg.DirectThreshold = 10
	c := newCluster(t, redistest.Options{AppendOnly: true, AppendFsync: "always"}, cfg)
	const stock = 200
	c.openDrop(t, "outage", stock)
	e1 := startEdge(t, "r1", t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg)
	e2 := startEdge(t, "r2", t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg)
	eventually(t, 10*time.Second, "leases at both edges", func() bool { return c.totals(t, "outage").HeldAtEdges >= 60 })
	held := c.totals(t, "outage").HeldAtEdges

	client := &http.Client{Timeout: 10 * time.Second}
	accepted := map[string]bool{}
	c.srv.Stop()
	during := map[int]int{}
	for i := range 2 * held {
		edge := []string{e1.URL, e2.URL}[i%2]
		b := fmt.Sprintf("down-%d", i)
		r, err := order(client, edge, "outage", b, b)
		if err != nil {
			t.Fatal(err)
		}
		during[r.code]++
		if r.code == 201 {
			accepted[r.id] = true
		}
	}
	t.Logf("while Redis was down: %v (held before: %d)", during, held)
	if during[201] == 0 || during[201] > held {
		t.Fatalf("while Redis was down %d orders accepted; want some, and never more than the %d units leased", during[201], held)
	}
	if during[201]+during[503] != 2*held {
		t.Fatalf("while Redis was down, statuses %v: want only 201 (from leases) and 503", during)
	}
	c.srv.Restart()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redis log: %s", c.srv.LogTail())
		}
	})
	eventually(t, 15*time.Second, "edges to ship what they sold", func() bool { return c.totals(t, "outage").Sold == len(accepted) })
	for i := 0; ; i++ {
		edge := []string{e1.URL, e2.URL}[i%2]
		b := fmt.Sprintf("up-%d", i)
		r, err := order(client, edge, "outage", b, b)
		if err != nil {
			t.Fatal(err)
		}
		if r.code == 201 {
			accepted[r.id] = true
		} else if r.code == 409 {
			break
		} else if r.code != 503 {
			t.Fatalf("after restart: status %d", r.code)
		}
		if i > 4*stock {
			t.Fatal("never sold out")
		}
	}
	eventually(t, 10*time.Second, "books to balance", func() bool {
		tt := c.totals(t, "outage")
		return tt.Sold == len(accepted) && tt.HeldAtEdges == 0
	})
	if tt := c.totals(t, "outage"); tt.Sold != stock || tt.Free != 0 {
		t.Fatalf("totals %+v, want all %d sold", tt, stock)
	}
	got := c.storedOrders(t, "outage")
	for id := range accepted {
		if o, ok := got[id]; !ok || o.Status == checkout.StatusCancelled {
			t.Fatalf("acknowledged order %s: %+v", id, o)
		}
	}
}
