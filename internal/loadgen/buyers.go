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
	// SignInConcurrency bounds the sign-ins (and the gate's preparations)
	// in flight (0: 64).
	SignInConcurrency int
	// Gate is what the drop asks of its buyers (zero: nothing).
	Gate Gate
}

type order struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

type refusal struct {
	Code         string `json:"code"`
	RetryAfterMs int64  `json:"retry_after_ms"`
}

type answer struct {
	code  int
	id    string
	qty   int
	retry time.Duration // the server's hint on a "try again" answer
	// reason is a refusal's code (sold_out, watch_required...).
	reason string
	took   time.Duration
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
	p.Edges = slices.Clone(p.Edges) // the caller's stays as it was
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
	ready, gate, closeGate := prepareGates(ctx, p, client, sessions)
	defer closeGate()
	if ctx.Err() != nil {
		return Summary{SignIn: signIn, Gate: gate}, ctx.Err()
	}
	prep := &gatePrep{p: p, c: client}
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
			var pr *proofs
			if ready != nil {
				if pr = ready[i]; pr == nil {
					return // not ready (its failure is in the gate summary): unanswered
				}
			}
			buyers[i] = runBuyer(ctx, client, p, prep, i, sessions[i], pr)
		}()
	}
	start := time.Now()
	close(release)
	wg.Wait()
	elapsed := time.Since(start)
	s := summarize(p, buyers, elapsed)
	s.SignIn = signIn
	s.Gate = gate
	s.Gate.Resolved = prep.sum.Resolved
	if ctx.Err() != nil {
		return s, ctx.Err()
	}
	s.Consistency = check(ctx, client, p, s)
	return s, nil
}

// runBuyer is one buyer: the order, then its retries with the same key.
func runBuyer(ctx context.Context, c *http.Client, p Params, g *gatePrep, i int, session string, pr *proofs) buyer {
	name := fmt.Sprintf("%s-%d", p.BuyerPrefix, i)
	key := "lg-" + name
	var b buyer
	for attempt := 0; attempt <= p.Retries && ctx.Err() == nil; attempt++ {
		edge := i
		if attempt%2 == 1 {
			edge++ // odd retries go to another edge
		}
		for try := 0; try < maxTries && ctx.Err() == nil; try++ {
			a := placeOrder(ctx, c, p.Edges[edge%len(p.Edges)], p, session, key, attempt > 0 || try > 0, pr)
			if a.code == http.StatusForbidden && g.renew(ctx, pr, session, a.reason) {
				continue // a stale proof, renewed: once more, as the page does
			}
			if len(b.answers) == 0 {
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

func placeOrder(ctx context.Context, c *http.Client, edge string, p Params, session, key string, retry bool, pr *proofs) answer {
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
	pr.header(req.Header)
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
	if json.Unmarshal(data, &r) == nil {
		a.reason = r.Code
	}
	if r.RetryAfterMs > 0 {
		a.retry = time.Duration(r.RetryAfterMs) * time.Millisecond
	} else if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		a.retry = time.Duration(s) * time.Second
	}
	return a
}
