// Package loadgen drives a flash sale of concurrent buyers against checkout
// edges over HTTP, the way one arrives, and checks what every buyer was told
// against itself and against the drop's totals.
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
	"strconv"
	"strings"
	"sync"
	"time"
)

// Params configures a run.
type Params struct {
	// Edges are base URLs (http://host:port); buyer i starts at edge i%len.
	Edges []string
	Drop  string
	SKU   string
	// Buyers is how many distinct buyers each place one order.
	Buyers int
	// Concurrency is how many buyers are in flight at once (0: all of them,
	// released together).
	Concurrency int
	// Qty per order (0: 1).
	Qty int
	// ConnsPerEdge bounds the HTTP connections to one edge (0: 256). Ignored
	// when Cold.
	ConnsPerEdge int
	// Cold sends every request on a fresh TCP connection (no keep-alive), as
	// a crowd of new buyers arrives; otherwise connections are reused.
	Cold bool
	// Retries is how many times each buyer repeats its order with the same
	// Idempotency-Key after its first answer (a buyer whose answer was lost);
	// odd-numbered retries go to the next edge. Retries carry the
	// Idempotency-Retry header.
	Retries int
	// Timeout bounds one request (0: 10s).
	Timeout time.Duration
	// ControlToken, if set, is sent as a bearer token on the totals read.
	ControlToken string
	// TotalsURL is the base URL the totals are read from (default Edges[0]).
	TotalsURL string
	// SettleTimeout bounds the wait for the totals to show every accepted
	// order (0: 10s).
	SettleTimeout time.Duration
	// BuyerPrefix names the buyers (prefix-N) and their Idempotency-Keys;
	// default "buyer".
	BuyerPrefix string
	// SignIn gives buyer i its session token (tests mint them with the
	// edges' secret). Nil: every buyer signs in as a guest over HTTP at
	// its first edge (POST /v1/signin/guest), all before the orders are
	// released, on connections of their own that are closed before the
	// burst, so the orders' figures are those of buyers who arrive
	// signed in.
	SignIn func(ctx context.Context, i int) (string, error)
	// SignInConcurrency bounds the sign-ins in flight (0: 64).
	SignInConcurrency int
}

// Summary is the JSON result of a run. Counts and first-answer latencies are
// of each buyer's first request; Final counts each buyer's definitive answer.
type Summary struct {
	Buyers        int            `json:"buyers"`
	Accepted      int            `json:"accepted"`
	AcceptedUnits int            `json:"accepted_units"`
	SoldOut       int            `json:"sold_out"`
	Held          int            `json:"held"`
	RateLimited   int            `json:"rate_limited"`
	Errors        int            `json:"errors"`
	Statuses      map[string]int `json:"statuses"`
	Unanswered    int            `json:"unanswered"`
	LatencyP50Ms  float64        `json:"latency_p50_ms"`
	LatencyP99Ms  float64        `json:"latency_p99_ms"`
	// FirstAnswerMs is the first answer's latency by status code.
	FirstAnswerMs map[string]Percentiles `json:"first_answer_ms"`
	// Final counts each buyer's definitive answer after following "try
	// again" answers (held, 503, connection errors) with the same key.
	Final map[string]int `json:"final"`
	// Attempts is every request made, retries included.
	Attempts int `json:"attempts"`
	// Contradictions are keys that got two different definitive answers:
	// two order ids, or an order and a refusal. The contract says zero.
	Contradictions       int      `json:"contradictions"`
	ContradictionSamples []string `json:"contradiction_samples,omitempty"`
	DurationMs           float64  `json:"duration_ms"`
	OrdersPerSec         float64  `json:"orders_per_sec"`
	// OrderIDs are the distinct orders buyers were told they have.
	OrderIDs    []string    `json:"-"`
	Consistency Consistency `json:"consistency"`
	// SignIn is what signing the buyers in cost, before the burst.
	SignIn SignInSummary `json:"sign_in"`
}

// SignInSummary is the sign-in phase: how, how long, how many failed
// (those buyers place no order and are counted unanswered).
type SignInSummary struct {
	Method     string  `json:"method"` // guest_http, or given (Params.SignIn)
	Buyers     int     `json:"buyers"`
	Failed     int     `json:"failed"`
	DurationMs float64 `json:"duration_ms"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	// FirstError is one failure, for the reader.
	FirstError string `json:"first_error,omitempty"`
}

// Percentiles of a latency sample, in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
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

type refusal struct {
	Code         string `json:"code"`
	RetryAfterMs int64  `json:"retry_after_ms"`
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

// answer is one HTTP exchange: code 0 when no answer came.
type answer struct {
	code  int
	id    string
	qty   int
	retry time.Duration // the server's hint on a "try again" answer
	took  time.Duration
}

// definitive reports an answer that is final for its key.
func (a answer) definitive() bool {
	switch a.code {
	case http.StatusCreated, http.StatusOK, http.StatusConflict, http.StatusForbidden, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

func (a answer) String() string {
	if a.id != "" {
		return fmt.Sprintf("%d %s", a.code, a.id)
	}
	return strconv.Itoa(a.code)
}

// buyer is what one buyer saw.
type buyer struct {
	first   answer
	final   answer // first definitive answer (code 0: none)
	answers []answer
}

// maxTries bounds one attempt's "try again" loop.
const maxTries = 40

// RunBuyers runs the buyers and returns the summary. The error reports a
// run that could not be made at all; a failed check is reported in the
// summary (Contradictions, Consistency).
func RunBuyers(ctx context.Context, p Params) (Summary, error) {
	if len(p.Edges) == 0 || p.Drop == "" || p.SKU == "" || p.Buyers < 1 {
		return Summary{}, errors.New("loadgen: edges, drop, sku and buyers >= 1 are required")
	}
	if p.Concurrency <= 0 || p.Concurrency > p.Buyers {
		p.Concurrency = p.Buyers
	}
	p.Qty = max(p.Qty, 1)
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
	if p.TotalsURL == "" {
		p.TotalsURL = p.Edges[0]
	}
	for i := range p.Edges {
		p.Edges[i] = strings.TrimRight(p.Edges[i], "/")
	}
	tr := &http.Transport{MaxConnsPerHost: p.ConnsPerEdge, MaxIdleConnsPerHost: p.ConnsPerEdge, IdleConnTimeout: 30 * time.Second}
	if p.Cold {
		tr = &http.Transport{DisableKeepAlives: true}
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: p.Timeout}

	sessions, signIn := signInAll(ctx, p)
	if ctx.Err() != nil {
		return Summary{SignIn: signIn}, ctx.Err()
	}
	buyers := make([]buyer, p.Buyers)
	sem := make(chan struct{}, p.Concurrency)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range p.Buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-release:
			case <-ctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if sessions[i] == "" {
				return // not signed in: unanswered
			}
			buyers[i] = runBuyer(ctx, client, p, i, sessions[i])
		}()
	}
	start := time.Now()
	close(release)
	wg.Wait()
	elapsed := time.Since(start)
	s := summarize(p, buyers, elapsed)
	s.SignIn = signIn
	if ctx.Err() != nil {
		return s, ctx.Err()
	}
	s.Consistency = check(ctx, client, p, s)
	return s, nil
}

// runBuyer is one buyer: the order, then its retries with the same key.
func runBuyer(ctx context.Context, c *http.Client, p Params, i int, session string) buyer {
	name := fmt.Sprintf("%s-%d", p.BuyerPrefix, i)
	key := "lg-" + name
	var b buyer
	for attempt := 0; attempt <= p.Retries && ctx.Err() == nil; attempt++ {
		edge := i
		if attempt%2 == 1 {
			edge++ // odd retries go to another edge
		}
		for try := 0; try < maxTries && ctx.Err() == nil; try++ {
			a := placeOrder(ctx, c, p.Edges[edge%len(p.Edges)], p, session, key, attempt > 0 || try > 0)
			if attempt == 0 && try == 0 {
				b.first = a
			}
			b.answers = append(b.answers, a)
			if a.definitive() {
				if b.final.code == 0 {
					b.final = a
				}
				break
			}
			if a.code == 0 {
				edge++ // no answer: that edge may be down, ask the next
			}
			wait := min(max(a.retry, 20*time.Millisecond), time.Second)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	return b
}

func placeOrder(ctx context.Context, c *http.Client, edge string, p Params, session, key string, retry bool) answer {
	body, _ := json.Marshal(map[string]any{"sku": p.SKU, "qty": p.Qty})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, edge+"/v1/drops/"+p.Drop+"/orders", bytes.NewReader(body))
	if err != nil {
		return answer{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Authorization", "Bearer "+session)
	if retry {
		req.Header.Set("Idempotency-Retry", "1")
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return answer{took: time.Since(t0)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	a := answer{code: resp.StatusCode, took: time.Since(t0)}
	if err != nil {
		return answer{took: a.took}
	}
	if a.code == http.StatusCreated || a.code == http.StatusOK {
		var o order
		if err := json.Unmarshal(data, &o); err != nil || o.ID == "" {
			return answer{took: a.took}
		}
		a.id, a.qty = o.ID, o.Qty
		return a
	}
	var r refusal
	if json.Unmarshal(data, &r) == nil && r.RetryAfterMs > 0 {
		a.retry = time.Duration(r.RetryAfterMs) * time.Millisecond
	} else if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		a.retry = time.Duration(s) * time.Second
	}
	return a
}

func summarize(p Params, buyers []buyer, elapsed time.Duration) Summary {
	s := Summary{Buyers: p.Buyers, Statuses: map[string]int{}, Final: map[string]int{}, FirstAnswerMs: map[string]Percentiles{}}
	var all []time.Duration
	byCode := map[string][]time.Duration{}
	for i, b := range buyers {
		s.Attempts += len(b.answers)
		f := b.first
		if f.code == 0 {
			s.Unanswered++
			s.Errors++
		} else {
			code := strconv.Itoa(f.code)
			s.Statuses[code]++
			all = append(all, f.took)
			byCode[code] = append(byCode[code], f.took)
			switch f.code {
			case http.StatusCreated:
			case http.StatusConflict:
				s.SoldOut++
			case http.StatusServiceUnavailable:
				s.Held++
			case http.StatusTooManyRequests:
				s.RateLimited++
			default:
				s.Errors++
			}
		}
		s.Final[finalLabel(b.final.code)]++
		var ids []string
		refused := false
		for _, a := range b.answers {
			switch {
			case a.id != "":
				if !slices.Contains(ids, a.id) {
					ids = append(ids, a.id)
				}
			case a.definitive():
				refused = true
			}
		}
		if len(ids) > 1 || (len(ids) == 1 && refused) {
			s.Contradictions++
			if len(s.ContradictionSamples) < 5 {
				s.ContradictionSamples = append(s.ContradictionSamples, fmt.Sprintf("%s-%d: %v", p.BuyerPrefix, i, b.answers))
			}
		}
		if len(ids) > 0 {
			s.Accepted++
			for _, a := range b.answers {
				if a.id == ids[0] {
					s.AcceptedUnits += a.qty
					break
				}
			}
			s.OrderIDs = append(s.OrderIDs, ids...)
		}
	}
	s.DurationMs = float64(elapsed.Microseconds()) / 1000
	if elapsed > 0 {
		s.OrdersPerSec = float64(s.Accepted) / elapsed.Seconds()
	}
	s.LatencyP50Ms, s.LatencyP99Ms = pct(all, 0.50), pct(all, 0.99)
	for code, l := range byCode {
		s.FirstAnswerMs[code] = Percentiles{N: len(l), P50: pct(l, 0.50), P99: pct(l, 0.99)}
	}
	return s
}

func finalLabel(code int) string {
	switch code {
	case 0:
		return "none"
	case http.StatusCreated, http.StatusOK:
		return "order"
	case http.StatusConflict:
		return "sold_out"
	case http.StatusForbidden:
		return "not_open"
	case http.StatusUnprocessableEntity:
		return "limit"
	}
	return strconv.Itoa(code)
}

func pct(l []time.Duration, q float64) float64 {
	if len(l) == 0 {
		return 0
	}
	l = slices.Clone(l)
	slices.Sort(l)
	i := int(float64(len(l)-1) * q)
	return float64(l[i].Microseconds()) / 1000
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
				cons.Problem = "one buyer was told two different orders, or two buyers the same order"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.TotalsURL, "/")+"/v1/drops/"+p.Drop, nil)
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
