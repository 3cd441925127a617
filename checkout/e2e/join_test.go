package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/loadgen"
	"github.com/livedrop/livedrop/internal/redistest"
)

// TestBurstWithAnEdgeAddedMidDrop: scale-out under load. Two edge processes
// sell a drop to a stream of cold buyers; a third address is in the buyers'
// list from the start but nothing listens there, so its buyers fail over to
// the next edge. Mid-drop a new edge process starts on that address: it
// leases stock from Redis and sells while the burst goes on, and the drop
// still sells exactly its stock with no contradicting answer.
func TestBurstWithAnEdgeAddedMidDrop(t *testing.T) {
	cfg := baseConfig()
	c := newCluster(t, redistest.Options{}, cfg)
	const stock = 600
	c.openDrop(t, "join", stock)
	urls := []string{
		startEdge(t, "j0", t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg).URL,
		startEdge(t, "j1", t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg).URL,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	joinAddr := ln.Addr().String()
	ln.Close()
	urls = append(urls, "http://"+joinAddr)

	// 3,000 buyers, 60 in flight at once, so that the burst outlasts the
	// new edge's start; each retries twice (odd retries to the next edge).
	p := burst(t, 3000, 2, "join", urls)
	p.Drop, p.Concurrency, p.TotalsURL = "join", 60, urls[0]
	type result struct {
		sum loadgen.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := loadgen.RunBuyers(context.Background(), p)
		done <- result{sum, err}
	}()
	eventually(t, 30*time.Second, "the first edges to sell", func() bool {
		return counter(t, urls[0], "livedrop_checkout_orders_total", `result="accepted"`) >= 20
	})
	joiner := startEdge(t, "j2", t.TempDir(), c.srv.URL(), joinAddr, cfg)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkBurst(t, c, "join", stock, r.sum)
	sold := counter(t, joiner.URL, "livedrop_checkout_orders_total", `result="accepted"`)
	if sold < 1 {
		t.Fatalf("the edge added mid-drop sold %v orders: it never took part", sold)
	}
	t.Logf("the edge added mid-drop sold %v of %d units", sold, stock)
	eventually(t, 20*time.Second, "books to settle", func() bool {
		tt := c.totals(t, "join")
		return tt.Sold == stock && tt.HeldAtEdges == 0 && tt.Free == 0
	})
}
