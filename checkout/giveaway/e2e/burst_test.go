package e2e

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/checkout/giveaway/giveawayhttp"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/nodetest"
	"github.com/livedrop/livedrop/internal/proof"
	"github.com/livedrop/livedrop/internal/redistest"
)

// entrant is one viewer of the burst: its session, its watch proof (""
// none) and the refusal it must get ("" eligible).
type entrant struct {
	n      int
	buyer  string
	bearer string
	proof  string
	why    string
	double bool // taps twice at once, at two edges
	retry  bool // asks again through another edge after its answer
}

// attempt is one entry request as the entrant saw it.
type attempt struct {
	edge int
	code int
	ok   giveawayhttp.Entered
	err  giveawayhttp.EntryError
}

// TestEntryBurstAcrossEdges: 1,000 viewers enter a giveaway for signed-in
// viewers through 3 edge processes on one Redis, each on fresh connections,
// some tapping twice at once at two edges and some asking again through
// another edge; guests and viewers without a watch proof (or with
// another's) are among them. Each eligible entrant is counted once and
// told so once; each ineligible one is refused with the reason; the draw
// at the origin reproduces from the revealed seed, and the winner is an
// eligible entrant with a zero-price pickup order.
func TestEntryBurstAcrossEdges(t *testing.T) {
	const (
		n       = 1000
		id      = "burst"
		stream  = "shop"
		workers = 48
	)
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true, AppendFsync: "everysec"})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 16})
	t.Cleanup(func() { rdb.Close() })
	var edges []*nodetest.Child
	for i := range 3 {
		edges = append(edges, startEdge(t, fmt.Sprintf("edge%d", i), srv.Addr()))
	}
	log := slog.New(slog.DiscardHandler)
	orders := checkout.NewRedisStore(rdb, log)
	origin, err := giveaway.New(giveaway.Params{Store: giveaway.NewRedisStore(rdb), Orders: orders, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	started, err := origin.Start(ctx, giveaway.StartParams{ID: id, Stream: stream, Prize: "Signed cap", Rule: giveaway.RuleVerified,
		Fulfilment: checkout.FulfilmentPickup})
	if err != nil {
		t.Fatal(err)
	}

	// The entrants: 700 signed in and watching, 150 guests watching, 100
	// signed in without a proof and 50 with another viewer's proof.
	sessions, err := buyer.NewSessions([]string{buyertest.Secret}, 24*time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gate, err := newGate(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	watchOf := func(who string, i int) string {
		_, tok, err := gate.IssueWatch(who, fmt.Sprintf("sess-%04d", i), proof.SessionState{Stream: stream, Connected: true,
			Receiving: now.Add(-30 * time.Second), LastReport: now}, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ents := make([]*entrant, n)
	var eligible []string
	for i := range n {
		kind, why := buyer.KindEmail, ""
		switch m := i % 20; {
		case m >= 14 && m <= 16:
			kind, why = buyer.KindGuest, "not_signed_in"
		case m >= 17:
			why = "not_watching"
		}
		who := buyer.NewGuestID()
		if kind == buyer.KindEmail {
			who = "e-" + who[2:]
		}
		tok, _, err := sessions.Mint(who, fmt.Sprintf("burst-device-%04d", i), kind)
		if err != nil {
			t.Fatal(err)
		}
		e := &entrant{n: i, buyer: who, bearer: "Bearer " + tok, why: why}
		switch i % 20 {
		case 17, 18: // signed in, no proof
		case 19: // another viewer's proof
			e.proof = watchOf(ents[i-1].buyer, i)
		default:
			e.proof = watchOf(who, i)
		}
		if why == "" {
			eligible = append(eligible, who)
			e.double, e.retry = i%7 == 0, i%5 == 0
		}
		ents[i] = e
	}
	slices.Sort(eligible)

	// Every request on a fresh connection; a request that fails (no
	// answer, or a 5xx) is asked again through the next edge, as the page
	// retries.
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var retriedMu sync.Mutex
	retried := 0
	post := func(e *entrant, edge int) attempt {
		var last string
		for try := range 4 {
			at := (edge + try) % len(edges)
			req, _ := http.NewRequest(http.MethodPost, edges[at].URL+"/v1/giveaways/"+id+"/entries", nil)
			req.Header.Set("Authorization", e.bearer)
			if e.proof != "" {
				req.Header.Set("Watch-Proof", e.proof)
			}
			resp, err := client.Do(req)
			if err != nil {
				last = err.Error()
			} else {
				a := attempt{edge: at, code: resp.StatusCode}
				if resp.StatusCode == http.StatusOK {
					err = json.NewDecoder(resp.Body).Decode(&a.ok)
				} else {
					err = json.NewDecoder(resp.Body).Decode(&a.err)
				}
				resp.Body.Close()
				if resp.StatusCode < 500 && err == nil {
					return a
				}
				last = fmt.Sprintf("%d (%v)", resp.StatusCode, err)
			}
			retriedMu.Lock()
			retried++
			retriedMu.Unlock()
			t.Logf("entrant %d at edge %d: %s; asking again through the next edge", e.n, at, last)
		}
		t.Errorf("entrant %d: no answer from any edge: %s", e.n, last)
		return attempt{code: -1}
	}
	results := make([][]attempt, n)
	jobs := make(chan *entrant)
	var wg sync.WaitGroup
	t0 := time.Now()
	for range workers {
		wg.Go(func() {
			for e := range jobs {
				edge := e.n % len(edges)
				var as []attempt
				if e.double {
					var mu sync.Mutex
					var tap sync.WaitGroup
					for k := range 2 {
						tap.Go(func() {
							a := post(e, edge+k)
							mu.Lock()
							as = append(as, a)
							mu.Unlock()
						})
					}
					tap.Wait()
				} else {
					as = append(as, post(e, edge))
				}
				if e.retry {
					as = append(as, post(e, edge+2))
				}
				results[e.n] = as
			}
		})
	}
	for _, e := range ents {
		jobs <- e
	}
	close(jobs)
	wg.Wait()
	t.Logf("%d entrants through %d edges in %v (%d requests asked again)", n, len(edges), time.Since(t0).Round(time.Millisecond), retried)

	// What each entrant was told.
	extra := 0
	for i, e := range ents {
		news := 0
		for _, a := range results[i] {
			switch {
			case e.why == "" && a.code != http.StatusOK:
				t.Fatalf("eligible entrant %d refused at edge %d: %d %+v", i, a.edge, a.code, a.err)
			case e.why == "" && a.ok.Buyer != e.buyer || e.why == "" && a.ok.Commitment != started.Commitment:
				t.Fatalf("entrant %d told %+v", i, a.ok)
			case e.why == "" && a.ok.New:
				news++
			case e.why == "":
				extra++
			case a.code != http.StatusForbidden || a.err.Code != "not_eligible" || a.err.Why != e.why || !strings.Contains(a.err.Error, "this giveaway is for verified"):
				t.Fatalf("ineligible entrant %d (%s) answered %d %+v", i, e.why, a.code, a.err)
			}
		}
		if e.why == "" && news != 1 {
			t.Fatalf("eligible entrant %d told new %d times over %d answers, want once", i, news, len(results[i]))
		}
	}

	// The store and the edges' counters agree: each eligible entrant once.
	v, err := origin.Get(ctx, id)
	if err != nil || v.Entrants != len(eligible) || v.State != "open" {
		t.Fatalf("giveaway before the draw: %+v %v, want %d entrants", v, err, len(eligible))
	}
	counted := map[string]float64{}
	for _, e := range edges {
		for k, x := range entryCounts(t, e.URL) {
			counted[k] += x
		}
	}
	want := map[string]float64{"entered": float64(len(eligible)), "again": float64(extra), "not_signed_in": 150, "not_watching": 150}
	for k, x := range want {
		if counted[k] != x {
			t.Errorf("edges counted %v %s entries, want %v (all: %v)", counted[k], k, x, counted)
		}
	}

	// The draw: the revealed seed reproduces the commitment and the winner
	// over exactly the eligible entrants.
	d, err := origin.Draw(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.EntrantIDs, eligible) {
		t.Fatalf("drawn over %d entrants, want the %d eligible ones", len(d.EntrantIDs), len(eligible))
	}
	seed, err := hex.DecodeString(d.Seed)
	if err != nil || giveaway.Commitment(id, seed) != started.Commitment {
		t.Fatalf("revealed seed %q does not match the start's hash %s", d.Seed, started.Commitment)
	}
	w, _, err := giveaway.Draw(id, seed, eligible)
	if err != nil || w != d.Winner || !giveaway.Verify(id, started.Commitment, seed, d.EntrantIDs, d.Winner) {
		t.Fatalf("re-running the draw picks %s (%v), the origin drew %s", w, err, d.Winner)
	}
	if _, ok := slices.BinarySearch(eligible, d.Winner); !ok {
		t.Fatalf("winner %s is not an eligible entrant", d.Winner)
	}
	if d.EntrantsDigest != giveaway.EntrantsDigest(eligible) {
		t.Fatal("the entrants' digest is not the eligible list's")
	}
	o, err := orders.Order(ctx, d.Order)
	if err != nil || o.Buyer != d.Winner || o.TotalCents != 0 || o.Status != checkout.StatusPaid || o.Fulfilment != checkout.FulfilmentPickup {
		t.Fatalf("the winner's prize order: %+v %v", o, err)
	}
	t.Logf("winner %s of %d eligible entrants", giveaway.Mask(d.Winner), len(eligible))

	// Entries are closed at every edge now, eligible or not.
	for i, e := range edges {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/v1/giveaways/"+id+"/entries", nil)
		req.Header.Set("Authorization", ents[1].bearer)
		req.Header.Set("Watch-Proof", ents[1].proof)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body giveawayhttp.EntryError
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || body.Code != "giveaway_closed" {
			t.Fatalf("entry at edge %d after the draw: %d %+v, want 409 giveaway_closed", i, resp.StatusCode, body)
		}
	}
}

// entryCounts scrapes an edge's livedrop_giveaway_entries_total by result.
func entryCounts(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `livedrop_giveaway_entries_total{result="`)
		if !ok {
			continue
		}
		label, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		x, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", sc.Text(), err)
		}
		out[label] += x
	}
	return out
}
