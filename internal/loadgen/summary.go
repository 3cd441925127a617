package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

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
	// Gate is what proving the buyers ready for a gated drop cost.
	Gate GateSummary `json:"gate,omitzero"`
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
		s.Final[finalLabel(b.final)]++
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

func finalLabel(a answer) string {
	switch a.code {
	case 0:
		return "none"
	case http.StatusCreated, http.StatusOK:
		return "order"
	case http.StatusConflict:
		return "sold_out"
	case http.StatusForbidden:
		if a.reason != "" && a.reason != "not_open" {
			return a.reason // a gate's refusal: watch_required, pow_invalid...
		}
		return "not_open"
	case http.StatusUnprocessableEntity:
		return "limit"
	}
	return strconv.Itoa(a.code)
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
