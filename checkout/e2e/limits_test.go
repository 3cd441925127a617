package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/nodetest"
	"github.com/livedrop/livedrop/internal/redistest"
)

// Buyers order again and again, with new keys, through three edge processes
// that all hold leases, one of them SIGKILLed and restarted mid-drop: each
// buyer's max_per_buyer holds in total, and every acknowledged order is in
// Redis, not cancelled.
func TestLimitsHoldAcrossEdgeProcesses(t *testing.T) {
	cfg := baseConfig()
	cfg.LeaseMin = 20
	c := newCluster(t, redistest.Options{AppendOnly: true}, cfg)
	const (
		drop   = "limited"
		maxPer = 3
		buyers = 20
		tries  = 12
	)
	d := checkout.Drop{ID: drop, Stream: "cam1", SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee", PriceCents: 1999, Currency: "EUR", Stock: 1000, MaxPerBuyer: maxPer}}}
	if _, err := c.ctl.CreateDrop(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if err := c.ctl.Open(context.Background(), drop); err != nil {
		t.Fatal(err)
	}
	victimDir := t.TempDir()
	edges := []*nodetest.Child{
		startEdge(t, "victim", victimDir, c.srv.URL(), "127.0.0.1:0", cfg),
		startEdge(t, "e2", t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg),
		startEdge(t, "e3", t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg),
	}
	eventually(t, 10*time.Second, "leases at three edges", func() bool { return c.totals(t, drop).HeldAtEdges >= 3*cfg.LeaseMin })
	var (
		mu      sync.Mutex
		urls    = []string{edges[0].URL, edges[1].URL, edges[2].URL}
		got     = map[string]map[string]bool{} // buyer -> acknowledged order ids
		refused = map[string]int{}
		wg      sync.WaitGroup
	)
	url := func(i int) string { mu.Lock(); defer mu.Unlock(); return urls[i%3] }
	client := &http.Client{Timeout: 5 * time.Second}
	half := make(chan struct{})
	var halfOnce sync.Once
	for b := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buyer := fmt.Sprint("fan", b)
			for i := range tries {
				if i == tries/2 && b == 0 {
					halfOnce.Do(func() { close(half) })
				}
				key := fmt.Sprint(buyer, "-", i)
				deadline := time.Now().Add(30 * time.Second)
				for a := 0; ; a++ {
					r, err := order(client, url(b+i+a), drop, buyer, key)
					if err == nil && (r.code == 201 || r.code == 422) {
						mu.Lock()
						if r.code == 201 {
							if got[buyer] == nil {
								got[buyer] = map[string]bool{}
							}
							got[buyer][r.id] = true
						} else {
							refused[buyer]++
						}
						mu.Unlock()
						break
					}
					if err == nil && r.code != 503 && r.code != 409 {
						t.Errorf("%s key %s: status %d", buyer, key, r.code)
						return
					}
					if time.Now().After(deadline) {
						t.Errorf("%s key %s: no definitive answer in 30s (last %v %v)", buyer, key, r.code, err)
						return
					}
					time.Sleep(50 * time.Millisecond) // a client's retry pause
				}
			}
		}()
	}
	<-half
	edges[0].Kill()
	edges[0] = startEdge(t, "victim", victimDir, c.srv.URL(), "127.0.0.1:0", cfg)
	mu.Lock()
	urls[0] = edges[0].URL
	mu.Unlock()
	wg.Wait()
	stored := map[string]checkout.Order{}
	eventually(t, 15*time.Second, "every acknowledged order in Redis", func() bool {
		stored = c.storedOrders(t, drop)
		for _, ids := range got {
			for id := range ids {
				if _, ok := stored[id]; !ok {
					return false
				}
			}
		}
		return true
	})
	units := map[string]int{}
	for _, o := range stored {
		if o.Status != checkout.StatusCancelled {
			units[o.Buyer] += o.Qty
		}
	}
	for b := range buyers {
		buyer := fmt.Sprint("fan", b)
		for id := range got[buyer] {
			if o := stored[id]; o.Status == checkout.StatusCancelled {
				t.Errorf("%s's acknowledged order %s was cancelled (%s)", buyer, id, o.Reason)
			}
		}
		inRedis := units[signedIn(t).ID(buyer)] // orders name the session's buyer id
		if len(got[buyer]) != maxPer || inRedis != maxPer || refused[buyer] != tries-maxPer {
			t.Errorf("%s: %d acknowledged, %d units in Redis, %d refused; want %d, %d, %d", buyer, len(got[buyer]), inRedis, refused[buyer], maxPer, maxPer, tries-maxPer)
		}
	}
	var refusals float64
	for _, e := range edges {
		refusals += counter(t, e.URL, "livedrop_checkout_limit_refusals_total", `kind="buyer"`)
	}
	t.Logf("limit refusals counted by the live edges: %v", refusals)
}
