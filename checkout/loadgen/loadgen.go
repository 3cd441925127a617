// Package loadgen drives many concurrent buyers against checkout edges over
// HTTP and checks the totals the edges report against what the buyers saw.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Params configures a run.
type Params struct {
	// Edges are base URLs (http://host:port); buyers are spread round-robin.
	Edges []string
	Drop  string
	SKU   string
	// Buyers is how many distinct buyers each place one order.
	Buyers int
	// Concurrency is how many buyers are in flight at once (0: all of them).
	Concurrency int
	// Qty per order (0: 1).
	Qty int
	// ConnsPerEdge bounds the HTTP connections to one edge (0: 256).
	ConnsPerEdge int
	// Timeout bounds one request (0: 10s).
	Timeout time.Duration
	// ControlToken, if set, is sent as a bearer token on the totals read.
	ControlToken string
	// SettleTimeout bounds the wait for the totals to show every accepted
	// order (0: 10s).
	SettleTimeout time.Duration
	// BuyerPrefix names the buyers (prefix-N); default "buyer".
	BuyerPrefix string
}

// Summary is the JSON result of a run.
type Summary struct {
	Buyers        int            `json:"buyers"`
	Accepted      int            `json:"accepted"`
	AcceptedUnits int            `json:"accepted_units"`
	SoldOut       int            `json:"sold_out"`
	RateLimited   int            `json:"rate_limited"`
	Errors        int            `json:"errors"`
	Statuses      map[string]int `json:"statuses"`
	Unanswered    int            `json:"unanswered"`
	LatencyP50Ms  float64        `json:"latency_p50_ms"`
	LatencyP99Ms  float64        `json:"latency_p99_ms"`
	DurationMs    float64        `json:"duration_ms"`
	OrdersPerSec  float64        `json:"orders_per_sec"`
	OrderIDs      []string       `json:"-"`
	Consistency   Consistency    `json:"consistency"`
}

// Consistency compares what buyers were told with the drop's totals.
type Consistency struct {
	OK            bool   `json:"ok"`
	Stock         int    `json:"stock"`
	Sold          int    `json:"sold"`
	Free          int    `json:"free"`
	HeldAtEdges   int    `json:"held_at_edges"`
	AcceptedUnits int    `json:"accepted_units"`
	UniqueOrders  bool   `json:"unique_orders"`
	Problem       string `json:"problem,omitempty"`
}

type order struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

type skuTotals struct {
	SKU         string `json:"sku"`
	Stock       int    `json:"stock"`
	Free        int    `json:"free"`
	HeldAtEdges int    `json:"held_at_edges"`
	Sold        int    `json:"sold"`
	Cancelled   int    `json:"cancelled"`
}

type totals struct {
	SKUs []skuTotals `json:"skus"`
}

// RunBuyers runs the buyers and returns the summary. The error reports a
// run that could not be made at all; a failed consistency check is reported
// in the summary.
func RunBuyers(ctx context.Context, p Params) (Summary, error) {
	if len(p.Edges) == 0 || p.Drop == "" || p.SKU == "" || p.Buyers < 1 {
		return Summary{}, errors.New("loadgen: edges, drop, sku and buyers >= 1 are required")
	}
	if p.Concurrency <= 0 || p.Concurrency > p.Buyers {
		p.Concurrency = p.Buyers
	}
	if p.Qty <= 0 {
		p.Qty = 1
	}
	if p.ConnsPerEdge <= 0 {
		p.ConnsPerEdge = 256
	}
	if p.Timeout <= 0 {
		p.Timeout = 10 * time.Second
	}
	if p.SettleTimeout <= 0 {
		p.SettleTimeout = 10 * time.Second
	}
	if p.BuyerPrefix == "" {
		p.BuyerPrefix = "buyer"
	}
	tr := &http.Transport{MaxConnsPerHost: p.ConnsPerEdge, MaxIdleConnsPerHost: p.ConnsPerEdge, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: p.Timeout}

	var (
		mu   sync.Mutex
		s    = Summary{Buyers: p.Buyers, Statuses: map[string]int{}}
		lats = make([]time.Duration, 0, p.Buyers)
	)
	sem := make(chan struct{}, p.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range p.Buyers {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return s, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			edge := strings.TrimRight(p.Edges[i%len(p.Edges)], "/")
			buyer := fmt.Sprintf("%s-%d", p.BuyerPrefix, i)
			t0 := time.Now()
			code, o, err := placeOrder(ctx, client, edge, p.Drop, p.SKU, buyer, p.Qty)
			lat := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.Unanswered++
				s.Errors++
				return
			}
			lats = append(lats, lat)
			s.Statuses[fmt.Sprint(code)]++
			switch code {
			case http.StatusCreated:
				s.Accepted++
				s.AcceptedUnits += o.Qty
				s.OrderIDs = append(s.OrderIDs, o.ID)
			case http.StatusConflict:
				s.SoldOut++
			case http.StatusTooManyRequests:
				s.RateLimited++
			default:
				s.Errors++
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	s.DurationMs = float64(elapsed.Microseconds()) / 1000
	if elapsed > 0 {
		s.OrdersPerSec = float64(s.Accepted) / elapsed.Seconds()
	}
	slices.Sort(lats)
	s.LatencyP50Ms = pct(lats, 0.50)
	s.LatencyP99Ms = pct(lats, 0.99)
	s.Consistency = check(ctx, client, p, s)
	return s, nil
}

func pct(l []time.Duration, q float64) float64 {
	if len(l) == 0 {
		return 0
	}
	i := int(float64(len(l)-1) * q)
	return float64(l[i].Microseconds()) / 1000
}

func placeOrder(ctx context.Context, c *http.Client, edge, drop, sku, buyer string, qty int) (int, order, error) {
	body, _ := json.Marshal(map[string]any{"sku": sku, "qty": qty, "buyer": buyer})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, edge+"/v1/drops/"+drop+"/orders", bytes.NewReader(body))
	if err != nil {
		return 0, order{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "lg-"+buyer)
	resp, err := c.Do(req)
	if err != nil {
		return 0, order{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, order{}, err
	}
	var o order
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(data, &o); err != nil {
			return 0, order{}, fmt.Errorf("decode order: %w", err)
		}
	}
	return resp.StatusCode, o, nil
}

// check polls the drop's totals until every accepted unit shows as sold
// (orders ship asynchronously) or the settle timeout passes.
func check(ctx context.Context, c *http.Client, p Params, s Summary) Consistency {
	ids := slices.Clone(s.OrderIDs)
	sort.Strings(ids)
	cons := Consistency{AcceptedUnits: s.AcceptedUnits, UniqueOrders: len(slices.Compact(ids)) == len(s.OrderIDs)}
	deadline := time.Now().Add(p.SettleTimeout)
	for {
		t, err := readTotals(ctx, c, p)
		if err == nil {
			for _, k := range t.SKUs {
				if k.SKU == p.SKU {
					cons.Stock, cons.Sold, cons.Free, cons.HeldAtEdges = k.Stock, k.Sold, k.Free, k.HeldAtEdges
				}
			}
			cons.Problem = ""
			switch {
			case !cons.UniqueOrders:
				cons.Problem = "the same order id was returned to two buyers"
			case cons.Sold > cons.Stock:
				cons.Problem = fmt.Sprintf("oversold: sold %d > stock %d", cons.Sold, cons.Stock)
			case cons.Free+cons.HeldAtEdges+cons.Sold > cons.Stock:
				cons.Problem = fmt.Sprintf("books do not balance: free %d + held %d + sold %d > stock %d", cons.Free, cons.HeldAtEdges, cons.Sold, cons.Stock)
			case cons.Sold != cons.AcceptedUnits:
				cons.Problem = fmt.Sprintf("sold %d != accepted units %d", cons.Sold, cons.AcceptedUnits)
			}
			if cons.Problem == "" {
				cons.OK = true
				return cons
			}
		} else {
			cons.Problem = "read totals: " + err.Error()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return cons
		}
		t2 := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t2.C:
		case <-ctx.Done():
			t2.Stop()
		}
	}
}

func readTotals(ctx context.Context, c *http.Client, p Params) (totals, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.Edges[0], "/")+"/v1/drops/"+p.Drop, nil)
	if err != nil {
		return totals{}, err
	}
	if p.ControlToken != "" {
		req.Header.Set("Authorization", "Bearer "+p.ControlToken)
	}
	resp, err := c.Do(req)
	if err != nil {
		return totals{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return totals{}, fmt.Errorf("GET /v1/drops/%s: status %d", p.Drop, resp.StatusCode)
	}
	var t totals
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&t); err != nil {
		return totals{}, fmt.Errorf("decode totals: %w", err)
	}
	return t, nil
}
