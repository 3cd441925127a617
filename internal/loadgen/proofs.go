package loadgen

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/proof"
	"github.com/livedrop/livedrop/internal/whep"
)

// Gate is what a gated drop asks of the run's buyers (the drop's gate); the
// load generator does for each buyer what the viewer page does, before the
// burst, so that the orders' figures are those of buyers who arrive ready.
type Gate struct {
	// ProofOfWork: each buyer fetches a challenge from its first edge and
	// solves it; an order refused for its challenge (stale, too easy once
	// the edge's difficulty rose, spent) solves a fresh one and is sent
	// once more, as the page does.
	ProofOfWork bool
	// WatchStream: each buyer watches this stream over WHEP at its first
	// edge until its session has received it for WatchFor, and its orders
	// carry the watch proof that edge signs. The sessions stay up until
	// the burst is over.
	WatchStream string
	WatchFor    time.Duration
	// ICE configures the WHEP sessions (zero: peer.DefaultICEConfig()).
	ICE peer.ICEConfig
}

func (g Gate) on() bool { return g.ProofOfWork || g.WatchStream != "" }

// GateSummary is the preparation phase of a gated drop: what proving cost.
type GateSummary struct {
	ProofOfWork   bool    `json:"proof_of_work"`
	Solved        int     `json:"pow_solved"`
	Resolved      int     `json:"pow_resolved_after_refusal"`
	MaxBits       int     `json:"pow_max_bits"`
	SolveP50Ms    float64 `json:"pow_solve_p50_ms"`
	SolveP99Ms    float64 `json:"pow_solve_p99_ms"`
	WatchStream   string  `json:"watch_stream,omitempty"`
	WatchSessions int     `json:"watch_sessions"`
	WatchProofs   int     `json:"watch_proofs"`
	Failed        int     `json:"failed"`
	DurationMs    float64 `json:"duration_ms"`
	FirstError    string  `json:"first_error,omitempty"`
}

// proofs are one buyer's proofs, used by its own goroutine only.
type proofs struct {
	edge    string
	session string // WHEP session id (watch gate)
	watch   string // Watch-Proof
	pow     string // Proof-Of-Work: challenge.nonce
	solveMs int64
	// retried: a refused proof was renewed once already.
	retried bool
}

func (pr *proofs) header(h http.Header) {
	if pr == nil {
		return
	}
	if pr.watch != "" {
		h.Set("Watch-Proof", pr.watch)
	}
	if pr.pow != "" {
		h.Set("Proof-Of-Work", pr.pow)
		h.Set("Proof-Of-Work-Solve-Ms", strconv.FormatInt(pr.solveMs, 10))
	}
}

// gatePrep proves every signed-in buyer ready for p.Gate. close ends the
// watch sessions.
type gatePrep struct {
	p       Params
	c       *http.Client
	mu      sync.Mutex
	sum     GateSummary
	solves  []time.Duration
	clients []*whep.Client
}

// prepareGates readies the buyers' proofs: nil proofs when the drop is not
// gated. The returned func closes the watch sessions.
func prepareGates(ctx context.Context, p Params, c *http.Client, sessions []string) ([]*proofs, GateSummary, func()) {
	if !p.Gate.on() {
		return nil, GateSummary{}, func() {}
	}
	g := &gatePrep{p: p, c: c, sum: GateSummary{ProofOfWork: p.Gate.ProofOfWork, WatchStream: p.Gate.WatchStream}}
	start := time.Now()
	all := make([]*proofs, len(sessions))
	var api *peer.API
	closeICE := func() error { return nil }
	if p.Gate.WatchStream != "" {
		ice := p.Gate.ICE
		if ice.DisconnectedTimeout == 0 {
			ice = peer.DefaultICEConfig()
		}
		var err error
		api, closeICE, err = peer.NewAPI(ice)
		if err != nil {
			g.fail(fmt.Errorf("watch sessions: %w", err))
			g.sum.Failed = len(sessions)
			return make([]*proofs, len(sessions)), g.sum, func() {}
		}
	}
	n := p.SignInConcurrency
	if n <= 0 {
		n = 64
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, s := range sessions {
		if s == "" {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pr := &proofs{edge: p.Edges[i%len(p.Edges)]}
			if err := g.ready(ctx, api, pr, s); err != nil {
				g.fail(err)
				return
			}
			all[i] = pr
		}()
	}
	wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sum.SolveP50Ms, g.sum.SolveP99Ms = pct(g.solves, 0.50), pct(g.solves, 0.99)
	g.sum.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	clients := g.clients
	return all, g.sum, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, cl := range clients {
			_ = cl.Close(cctx)
		}
		_ = closeICE()
	}
}

func (g *gatePrep) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sum.Failed++
	if g.sum.FirstError == "" {
		g.sum.FirstError = err.Error()
	}
}

// ready watches (watch gate) and solves (proof of work) for one buyer.
func (g *gatePrep) ready(ctx context.Context, api *peer.API, pr *proofs, session string) error {
	if g.p.Gate.WatchStream != "" {
		u, err := whep.EndpointURL(pr.edge, g.p.Gate.WatchStream)
		if err != nil {
			return err
		}
		cl, err := whep.Dial(ctx, whep.ClientParams{API: api, URL: u, HTTP: g.c, NoAudio: true, ReuseBuffers: true})
		if err != nil {
			return fmt.Errorf("watch %s: %w", u, err)
		}
		g.mu.Lock()
		g.clients = append(g.clients, cl)
		g.sum.WatchSessions++
		g.mu.Unlock()
		pr.session = path.Base(cl.Location())
		if err := g.watchProof(ctx, pr, session, g.p.Gate.WatchFor); err != nil {
			return err
		}
	}
	if g.p.Gate.ProofOfWork {
		if err := g.solve(ctx, pr, session); err != nil {
			return err
		}
	}
	return nil
}

// watchProof asks the buyer's edge for a proof of its session until the
// proof says the session has received the stream for at least d, or the
// session has watched d plus a margin without one.
func (g *gatePrep) watchProof(ctx context.Context, pr *proofs, session string, d time.Duration) error {
	deadline := time.Now().Add(d + 30*time.Second)
	for {
		var wp struct {
			Proof     string `json:"proof"`
			WatchedMs int64  `json:"watched_ms"`
		}
		code, err := g.get(ctx, pr.edge+"/v1/watch-proof?session="+url.QueryEscape(pr.session), session, &wp)
		switch {
		case err != nil && code != http.StatusConflict: // 409: not receiving yet
			return fmt.Errorf("watch proof: %w", err)
		case err == nil && time.Duration(wp.WatchedMs)*time.Millisecond >= d:
			pr.watch = wp.Proof
			g.mu.Lock()
			g.sum.WatchProofs++
			g.mu.Unlock()
			return nil
		}
		wait := 200 * time.Millisecond
		if err == nil {
			wait = max(min(d-time.Duration(wp.WatchedMs)*time.Millisecond, time.Second), 50*time.Millisecond)
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("watch proof: the session did not prove %v of watching in time", d)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// solve fetches a challenge from the buyer's edge and solves it.
func (g *gatePrep) solve(ctx context.Context, pr *proofs, session string) error {
	var ch struct {
		Challenge string `json:"challenge"`
		Seed      string `json:"seed"`
		Bits      int    `json:"bits"`
	}
	if _, err := g.get(ctx, pr.edge+"/v1/pow-challenge", session, &ch); err != nil {
		return fmt.Errorf("pow challenge: %w", err)
	}
	var seed [16]byte
	if b, err := hex.DecodeString(ch.Seed); err != nil || len(b) != len(seed) || ch.Challenge == "" {
		return fmt.Errorf("pow challenge: malformed seed %q", ch.Seed)
	} else {
		copy(seed[:], b)
	}
	t0 := time.Now()
	nonce := proof.Solve(seed, ch.Bits)
	took := time.Since(t0)
	pr.pow = ch.Challenge + "." + strconv.FormatUint(nonce, 10)
	pr.solveMs = took.Milliseconds()
	g.mu.Lock()
	g.sum.Solved++
	g.sum.MaxBits = max(g.sum.MaxBits, ch.Bits)
	g.solves = append(g.solves, took)
	g.mu.Unlock()
	return nil
}

// renew answers an order refused for its proofs (403 with a watch_ or
// pow_ code) by renewing them once: true when the order should be sent
// again.
func (g *gatePrep) renew(ctx context.Context, pr *proofs, session, code string) bool {
	if pr == nil || pr.retried {
		return false
	}
	switch {
	case strings.HasPrefix(code, "pow_") && g.p.Gate.ProofOfWork:
		pr.retried = true
		if g.solve(ctx, pr, session) != nil {
			return false
		}
		g.mu.Lock()
		g.sum.Resolved++
		g.mu.Unlock()
		return true
	case strings.HasPrefix(code, "watch_") && pr.session != "":
		pr.retried = true
		return g.watchProof(ctx, pr, session, g.p.Gate.WatchFor) == nil
	}
	return false
}

// get is a GET as the signed-in buyer, decoded into v; a non-200 answer is
// an error with its status.
func (g *gatePrep) get(ctx context.Context, u, session string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+session)
	resp, err := g.c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<14))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, v); err != nil {
		return resp.StatusCode, errors.New("undecodable answer: " + err.Error())
	}
	return resp.StatusCode, nil
}
