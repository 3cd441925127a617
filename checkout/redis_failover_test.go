package checkout

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/redistest"
)

// sellOutThroughFailover sells a drop out through three edges on store
// while failover() fails Redis over once a third is sold: nothing oversold,
// no order answered 201 lost, every unit sold, every order readable.
func sellOutThroughFailover(t *testing.T, cfg Config, store Store, failover func()) {
	t.Helper()
	const stock = 600
	h := newHarnessOn(t, cfg, store)
	h.open(t, testDrop("fo", stock, 0))
	edges := []*Edge{h.edge(t, "f1", cfg, nil), h.edge(t, "f2", cfg, nil), h.edge(t, "f3", cfg, nil)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(leaseReport(store, edges, "fo", "tee"))
		}
	})
	var (
		mu       sync.Mutex
		accepted = map[string]Order{}
		next     atomic.Int64
		soldOut  atomic.Int64
		wg       sync.WaitGroup
	)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for soldOut.Load() < 50 {
				b := fmt.Sprintf("b%d", next.Add(1))
				// A buyer taps again with the same key, maybe at another
				// edge, until a definitive answer.
				for deadline := time.Now().Add(30 * time.Second); ; {
					o, err := buy(edges[rand.IntN(3)], "fo", b, 1)
					if err == nil {
						mu.Lock()
						accepted[o.ID] = o
						mu.Unlock()
						break
					}
					if errors.Is(err, ErrSoldOut) {
						soldOut.Add(1)
						break
					}
					if c := ClassOf(err); c != ClassHeld && c != ClassUnavailable {
						t.Errorf("buyer %s: %v", b, err)
						return
					}
					if time.Now().After(deadline) {
						t.Errorf("buyer %s: no answer but %v for 30 s", b, err)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	eventually(t, 30*time.Second, "a third of the stock sold", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) >= stock/3
	})
	start := time.Now()
	failover()
	t.Logf("failover took %v", time.Since(start).Round(time.Millisecond))
	wg.Wait()
	if len(accepted) > stock {
		byStatus := map[string]int{}
		for id, o := range accepted {
			got, err := store.Order(context.Background(), id)
			k := fmt.Sprintf("%s/%s/%v/same-edge=%v", got.Status, got.Reason, err, got.Edge == o.Edge)
			byStatus[k]++
		}
		t.Fatalf("%d orders answered 201 for %d units: oversold; in the store: %v; totals %+v", len(accepted), stock, byStatus, mustTotals(t, store, "fo"))
	}
	tt := settled(t, store, "fo", stock)
	if tt.Free != 0 || tt.Orders != stock {
		t.Fatalf("totals after the sell-out %+v; want %d orders, every unit sold once", tt, stock)
	}
	for id, o := range accepted {
		got, err := store.Order(context.Background(), id)
		if err != nil || got.Status == StatusCancelled || got.Buyer != o.Buyer {
			t.Fatalf("order %s answered 201: %+v in the store (%v)", id, got, err)
		}
	}
	t.Logf("%d orders answered 201 of %d units (%d journaled without an answer), %d buyers told sold out", len(accepted), stock, stock-len(accepted), soldOut.Load())
}

// failoverConfig runs the failover tests with the default lease_ttl (30 s)
// and wait_timeout (500 ms): a failover must not need longer ones.
func failoverConfig() Config {
	cfg := testConfig()
	cfg.LeaseMin = 20
	cfg.LeaseTTL = Defaults().LeaseTTL
	return cfg
}

func TestRedisClusterSellOutWhileAMasterFails(t *testing.T) {
	c := redistest.StartCluster(t, redistest.ClusterOptions{AppendOnly: true, AppendFsync: "everysec"})
	cfg := failoverConfig()
	cfg.Redis = RedisConfig{Mode: RedisCluster, Addrs: c.Addrs(), WaitReplicas: 1, WaitTimeout: Defaults().Redis.WaitTimeout}
	store, err := OpenRedisStoreFor(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sellOutThroughFailover(t, cfg, store, func() {
		killed := c.KillMasterFor(dropKeys("fo").meta())
		// The dead master comes back (as an orchestrator restarts it) as the
		// replica of the promoted one; until then writes to the slot wait
		// for a replica and fail, and edges sell from their leases.
		c.Restart(killed)
	})
}

func TestRedisSentinelSellOutThroughAFailover(t *testing.T) {
	set := redistest.StartSentinel(t, redistest.Options{AppendOnly: true, AppendFsync: "everysec"})
	cfg := failoverConfig()
	cfg.Redis = RedisConfig{Mode: RedisSentinel, Addrs: set.Addrs(), MasterName: set.Name, WaitReplicas: 1, WaitTimeout: Defaults().Redis.WaitTimeout}
	store, err := OpenRedisStoreFor(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sellOutThroughFailover(t, cfg, store, set.KillMaster)
}

// leaseReport says what each edge believes of its lease and what the store
// holds for it: the picture to read when a sell-out stalls.
func leaseReport(store Store, edges []*Edge, drop, sku string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := ""
	if tt, err := store.Totals(ctx, drop); err == nil {
		out += fmt.Sprintf("store totals %+v\n", tt.SKUs)
	} else {
		out += fmt.Sprintf("store totals: %v\n", err)
	}
	for _, e := range edges {
		sk := e.dropEntry(drop).skuEntry(sku)
		sk.mu.Lock()
		mine := fmt.Sprintf("avail=%d unshipped=%d recovered=%v direct=%v deadline_in=%v grant=%q/%d return=%q/%d view=%+v view_age=%v",
			sk.avail, sk.unshipped, sk.recovered, sk.direct, time.Until(sk.deadline).Round(time.Millisecond),
			sk.grantOp, sk.grantUnits, sk.returnOp, sk.returnUnits, sk.view, time.Since(sk.viewAt).Round(time.Millisecond))
		sk.mu.Unlock()
		v, err := store.View(ctx, drop, e.id, []string{sku})
		out += fmt.Sprintf("edge %s: %s ship_queue=%d; store: lease=%d (%v)\n", e.id, mine, e.ship.len(), v.SKUs[sku].MyLease, err)
	}
	return out
}
