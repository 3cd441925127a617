package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/loadgen"
	"github.com/livedrop/livedrop/internal/redistest"
)

// burst is a flash sale as it arrives: every buyer at once on a fresh TCP
// connection, each retrying with the same Idempotency-Key, odd retries to
// another edge.
// Buyers arrive signed in: their sessions are minted, not fetched, so no
// connection is opened before the burst.
func burst(t testing.TB, buyers, retries int, prefix string, edges []string) loadgen.Params {
	return loadgen.Params{Edges: edges, Drop: "", SKU: "tee", Buyers: buyers, Cold: true, Retries: retries,
		Timeout: 30 * time.Second, SettleTimeout: 20 * time.Second, BuyerPrefix: prefix, SignIn: mintedSessions(t, prefix)}
}

// checkBurst asserts the contract on what buyers saw and what Redis holds.
func checkBurst(t testing.TB, c *cluster, drop string, stock int, sum loadgen.Summary) {
	t.Helper()
	js, _ := json.Marshal(sum)
	t.Logf("summary: %s", js)
	if sum.Contradictions != 0 {
		t.Fatalf("%d keys got contradicting answers (samples %v)", sum.Contradictions, sum.ContradictionSamples)
	}
	if sum.Final["order"] != stock || sum.Final["sold_out"] != sum.Buyers-stock || sum.Final["none"] != 0 {
		t.Fatalf("final answers %v: want %d orders and %d sold out, every buyer answered", sum.Final, stock, sum.Buyers-stock)
	}
	if !sum.Consistency.OK {
		t.Fatalf("consistency: %+v", sum.Consistency)
	}
	orders := c.storedOrders(t, drop)
	events := c.createdEvents(t, drop)
	for _, id := range sum.OrderIDs {
		if o, ok := orders[id]; !ok || o.Status == checkout.StatusCancelled {
			t.Fatalf("order %s told to its buyer is not live in Redis: %+v", id, o)
		}
		if events[id] != 1 {
			t.Fatalf("order %s has %d created events in the stream, want 1", id, events[id])
		}
	}
	live := 0
	for _, o := range orders {
		if o.Status != checkout.StatusCancelled {
			live++
		}
	}
	if live != stock {
		t.Fatalf("%d live orders in Redis, want %d", live, stock)
	}
}

func TestBurstColdBuyersSameKeyAcrossEdges(t *testing.T) {
	cfg := baseConfig()
	c := newCluster(t, redistest.Options{}, cfg)
	const stock = 100
	c.openDrop(t, "burst", stock)
	var urls []string
	for i := range 3 {
		urls = append(urls, startEdge(t, fmt.Sprintf("b%d", i), t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg).URL)
	}
	eventually(t, 10*time.Second, "leases at the edges", func() bool { return c.totals(t, "burst").HeldAtEdges >= 3*cfg.LeaseMin })
	p := burst(t, 2000, 2, "cold", urls)
	p.Drop = "burst"
	sum, err := loadgen.RunBuyers(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	checkBurst(t, c, "burst", stock, sum)
	if tt := c.totals(t, "burst"); tt.Sold != stock || tt.Free != 0 || tt.HeldAtEdges != 0 {
		t.Fatalf("totals %+v", tt)
	}
}

func TestBurstWithAnEdgeKilledMidDrop(t *testing.T) {
	cfg := baseConfig()
	cfg.LeaseMin = 20
	c := newCluster(t, redistest.Options{AppendOnly: true}, cfg)
	const stock = 300
	c.openDrop(t, "killburst", stock)
	dir := t.TempDir()
	victim := startEdge(t, "victim", dir, c.srv.URL(), "127.0.0.1:0", cfg)
	urls := []string{victim.URL}
	for i := range 2 {
		urls = append(urls, startEdge(t, fmt.Sprintf("k%d", i), t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg).URL)
	}
	eventually(t, 10*time.Second, "leases at the edges", func() bool { return c.totals(t, "killburst").HeldAtEdges >= 3*cfg.LeaseMin })

	p := burst(t, 3000, 3, "kill", urls)
	p.Drop = "killburst"
	p.TotalsURL = urls[1]
	type result struct {
		sum loadgen.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := loadgen.RunBuyers(context.Background(), p)
		done <- result{sum, err}
	}()
	// Kill the victim once it has sold from its lease, then bring it back
	// on the same address and data dir while buyers keep coming.
	eventually(t, 30*time.Second, "the victim to sell", func() bool {
		return counter(t, victim.URL, "livedrop_checkout_orders_total", `result="accepted"`) >= 10
	})
	victim.Kill()
	u, _ := url.Parse(victim.URL)
	victim = startEdge(t, "victim", dir, c.srv.URL(), u.Host, cfg)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkBurst(t, c, "killburst", stock, r.sum)
	eventually(t, 20*time.Second, "books to settle", func() bool {
		tt := c.totals(t, "killburst")
		return tt.Sold == stock && tt.HeldAtEdges == 0 && tt.Free == 0
	})
}

// BenchmarkBurst measures the first answers of a cold burst: 2,000 buyers
// released at once on fresh connections against three edge processes and
// one Redis, 100 units, 2 retries each (odd ones to another edge). It
// reports the first answer's p50 and p99 for 201 (sold) and for 409 (sold
// out) in milliseconds; one drop per iteration.
func BenchmarkBurst(b *testing.B) {
	for _, cold := range []bool{true, false} {
		name := "cold"
		if !cold {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) { benchBurst(b, cold) })
	}
}

func benchBurst(b *testing.B, cold bool) {
	cfg := baseConfig()
	c := newCluster(b, redistest.Options{}, cfg)
	var urls []string
	for i := range 3 {
		urls = append(urls, startEdge(b, fmt.Sprintf("bench%d", i), b.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg).URL)
	}
	var s201, s409 []float64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		drop := fmt.Sprintf("bench%d", i)
		c.openDrop(b, drop, 100)
		eventually(b, 10*time.Second, "leases at the edges", func() bool { return c.totals(b, drop).HeldAtEdges >= 3*cfg.LeaseMin })
		p := burst(b, 2000, 2, fmt.Sprintf("b%d", i), urls)
		p.Drop, p.Cold = drop, cold
		if !cold {
			p.ConnsPerEdge = 2000
		}
		b.StartTimer()
		sum, err := loadgen.RunBuyers(context.Background(), p)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if sum.Contradictions != 0 || sum.Final["order"] != 100 {
			b.Fatalf("contradictions %d, final %v", sum.Contradictions, sum.Final)
		}
		s201 = append(s201, sum.FirstAnswerMs["201"].P50, sum.FirstAnswerMs["201"].P99)
		s409 = append(s409, sum.FirstAnswerMs["409"].P50, sum.FirstAnswerMs["409"].P99)
		b.StartTimer()
	}
	n := float64(len(s201) / 2)
	var a, bb, cc, d float64
	for i := 0; i < len(s201); i += 2 {
		a, bb, cc, d = a+s201[i], bb+s201[i+1], cc+s409[i], d+s409[i+1]
	}
	// The edges' own share: time inside the edge from request to answer
	// (livedrop_checkout_answer_seconds over all runs, interpolated in its buckets).
	for _, r := range []struct{ result, name string }{{"accepted", "201"}, {"sold_out", "409"}, {"held", "503"}} {
		h := edgeHistogram(b, urls, "livedrop_checkout_answer_seconds", r.result)
		b.ReportMetric(h.quantile(0.50)*1000, "edge-"+r.name+"-p50-ms")
		b.ReportMetric(h.quantile(0.99)*1000, "edge-"+r.name+"-p99-ms")
	}
	b.ReportMetric(a/n, "201-p50-ms")
	b.ReportMetric(bb/n, "201-p99-ms")
	b.ReportMetric(cc/n, "409-p50-ms")
	b.ReportMetric(d/n, "409-p99-ms")
}

// histogram is a Prometheus histogram's cumulative buckets.
type histogram struct {
	le    []float64
	count []float64
}

// quantile interpolates linearly inside the bucket that holds q, as
// Prometheus's histogram_quantile does; past the last finite bound it
// answers that bound.
func (h histogram) quantile(q float64) float64 {
	if len(h.count) == 0 || h.count[len(h.count)-1] == 0 {
		return 0
	}
	want := q * h.count[len(h.count)-1]
	for i, c := range h.count {
		if c < want {
			continue
		}
		if math.IsInf(h.le[i], 1) {
			return h.le[max(i-1, 0)]
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = h.le[i-1], h.count[i-1]
		}
		if c == below {
			return h.le[i]
		}
		return lo + (h.le[i]-lo)*(want-below)/(c-below)
	}
	return h.le[len(h.le)-1]
}

// edgeHistogram sums the buckets of name{result} over the edges' /metrics.
func edgeHistogram(t testing.TB, urls []string, name, result string) histogram {
	t.Helper()
	sum := map[float64]float64{}
	for _, u := range urls {
		resp, err := http.Get(u + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			l := sc.Text()
			if !strings.HasPrefix(l, name+"_bucket{") || !strings.Contains(l, `result="`+result+`"`) {
				continue
			}
			i := strings.Index(l, `le="`)
			j := strings.Index(l[i+4:], `"`)
			le, err := strconv.ParseFloat(l[i+4:i+4+j], 64)
			if err != nil {
				le = math.Inf(1)
			}
			v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			sum[le] += v
		}
		resp.Body.Close()
	}
	var h histogram
	for le := range sum {
		h.le = append(h.le, le)
	}
	sort.Float64s(h.le)
	for _, le := range h.le {
		h.count = append(h.count, sum[le])
	}
	return h
}
