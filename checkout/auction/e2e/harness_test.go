package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/auction/auctionhttp"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
)

// answered is one bid's HTTP answer as a bidder saw it.
type answered struct {
	buyer  string
	key    string
	code   int
	ans    auctionhttp.BidAnswer
	took   time.Duration
	sentAt time.Time
}

// bidClient is one bidder: its own connections, its own session.
type bidClient struct {
	name   string
	bearer string
	http   *http.Client
}

func newBidClient(buyers *buyertest.Buyers, name string) *bidClient {
	return &bidClient{name: name, bearer: buyers.Bearer(name),
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}}
}

func (b *bidClient) bid(base, lot, key string, body auctionhttp.BidBody) (answered, error) {
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/lots/"+lot+"/bids", bytes.NewReader(data))
	req.Header.Set("Authorization", b.bearer)
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := b.http.Do(req)
	if err != nil {
		return answered{}, err
	}
	defer resp.Body.Close()
	a := answered{buyer: b.name, key: key, code: resp.StatusCode, took: time.Since(t0), sentAt: t0}
	if err := json.NewDecoder(resp.Body).Decode(&a.ans); err != nil {
		return a, fmt.Errorf("decode answer (%d): %w", resp.StatusCode, err)
	}
	return a, nil
}

func (b *bidClient) lot(base, lot string) (auction.Update, error) {
	resp, err := b.http.Get(base + "/v1/lots/" + lot)
	if err != nil {
		return auction.Update{}, err
	}
	defer resp.Body.Close()
	var u auction.Update
	return u, json.NewDecoder(resp.Body).Decode(&u)
}

// viewer reads one edge's live updates and notes when each arrived.
type viewer struct {
	mu   sync.Mutex
	seen []seenUpdate
}

type seenUpdate struct {
	u  auction.Update
	at time.Time
}

func watch(ctx context.Context, t *testing.T, base, lot string) *viewer {
	v := &viewer{}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/lots/"+lot+"/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("live: %d", resp.StatusCode)
	}
	first := make(chan struct{})
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		once := sync.Once{}
		for sc.Scan() {
			d, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var u auction.Update
			if json.Unmarshal([]byte(d), &u) != nil {
				continue
			}
			v.mu.Lock()
			v.seen = append(v.seen, seenUpdate{u, time.Now()})
			v.mu.Unlock()
			once.Do(func() { close(first) })
		}
	}()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no first live update within 10 s")
	}
	return v
}

// lag is, for each valid bid of the log, how long until this viewer had a
// price at least that new (by seq); false when it never did.
func (v *viewer) lag(recs []auction.Record) (lags []time.Duration, missing int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range recs {
		if !r.Result.Valid() {
			continue
		}
		i := slices.IndexFunc(v.seen, func(s seenUpdate) bool { return s.u.Seq >= r.Seq })
		if i < 0 {
			missing++
			continue
		}
		lags = append(lags, v.seen[i].at.Sub(time.UnixMilli(r.AtMS)))
	}
	return lags, missing
}

func (v *viewer) latest() auction.Update {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.seen[len(v.seen)-1].u
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkLog replays the store's log through auction.Resolve from the lot's
// start and checks every rule: each result as the rules decide, the end
// moved exactly by the extension rule, nothing valid at or after the end.
// It returns the replayed final state.
func checkLog(t *testing.T, l auction.Lot, start auction.State, recs []auction.Record) auction.State {
	t.Helper()
	st := start
	for i, r := range recs {
		next, res := auction.Resolve(l, st, r.Bid, r.AtMS)
		if res != r.Result || next.PriceCents != r.Price || next.Leader != r.Leader || next.EndsMS != r.EndsMS {
			t.Fatalf("bid %d %+v: the store decided %s (price %d, ends %d), the rules %s (price %d, ends %d)",
				i, r.Bid, r.Result, r.Price, r.EndsMS, res, next.PriceCents, next.EndsMS)
		}
		if res.Valid() {
			if r.AtMS >= r.PrevEnds {
				t.Fatalf("bid %d counted at %d, at or after the end %d", i, r.AtMS, r.PrevEnds)
			}
			if want := max(r.PrevEnds, r.AtMS+l.ExtendMS); !l.SuddenDeath && r.EndsMS != want {
				t.Fatalf("bid %d at %d: end %d -> %d, the rule says %d", i, r.AtMS, r.PrevEnds, r.EndsMS, want)
			}
		}
		st = next
	}
	return st
}
