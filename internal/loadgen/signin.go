package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// signInAll signs every buyer in before the burst: the sessions by buyer
// ("" for a failed sign-in) and what it cost.
func signInAll(ctx context.Context, p Params) ([]string, SignInSummary) {
	sum := SignInSummary{Method: "given", Buyers: p.Buyers}
	signIn := p.SignIn
	if signIn == nil {
		sum.Method = "guest_http"
		// Connections of their own, closed before the burst: the orders
		// open theirs as before (fresh with --cold).
		tr := &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
		if p.Cold {
			tr = &http.Transport{DisableKeepAlives: true}
		}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: p.Timeout}
		run := make([]byte, 6)
		_, _ = rand.Read(run)
		tag := hex.EncodeToString(run)
		signIn = func(ctx context.Context, i int) (string, error) {
			return guestSignIn(ctx, c, p.Edges[i%len(p.Edges)], fmt.Sprintf("lg-%s-%d", tag, i))
		}
	}
	n := p.SignInConcurrency
	if n <= 0 {
		n = 64
	}
	sessions := make([]string, p.Buyers)
	took := make([]time.Duration, p.Buyers)
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, n)
	)
	start := time.Now()
	for i := range p.Buyers {
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
			t0 := time.Now()
			tok, err := signIn(ctx, i)
			took[i] = time.Since(t0)
			if err != nil || tok == "" {
				mu.Lock()
				sum.Failed++
				if sum.FirstError == "" && err != nil {
					sum.FirstError = err.Error()
				}
				mu.Unlock()
				return
			}
			sessions[i] = tok
		}()
	}
	wg.Wait()
	sum.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	sum.P50Ms, sum.P99Ms = pct(took, 0.50), pct(took, 0.99)
	return sessions, sum
}

// guestSignIn is POST /v1/signin/guest for device: the session token.
func guestSignIn(ctx context.Context, c *http.Client, edge, device string) (string, error) {
	body, _ := json.Marshal(map[string]string{"device": device})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, edge+"/v1/signin/guest", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<14))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("guest sign-in at %s: %d %s", edge, resp.StatusCode, bytes.TrimSpace(data))
	}
	var s struct {
		Session string `json:"session"`
	}
	if err := json.Unmarshal(data, &s); err != nil || s.Session == "" {
		return "", fmt.Errorf("guest sign-in at %s: no session in %q", edge, data)
	}
	return s.Session, nil
}
