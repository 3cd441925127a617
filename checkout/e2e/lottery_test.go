package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/internal/redistest"
)

// lotteryAnswer is what one order request of a lottery buyer got back: a
// 201 order, a 202 entry or a 409 lost entry.
type lotteryAnswer struct {
	code  int
	order checkout.Order
	entry checkouthttp.EntryAnswer
	raw   string
}

// coldOrder asks edge for one tee on a fresh TCP connection (no keep-alive,
// nothing opened before), as buyer with key.
func coldOrder(edge, drop, buyer, key string, retry bool) (lotteryAnswer, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest("POST", edge+"/v1/drops/"+drop+"/orders", bytes.NewReader([]byte(`{"sku":"tee","qty":1}`)))
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Authorization", buyers.Bearer(buyer))
	if retry {
		req.Header.Set(checkouthttp.RetryHeader, "1")
	}
	resp, err := client.Do(req)
	if err != nil {
		return lotteryAnswer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return lotteryAnswer{}, err
	}
	a := lotteryAnswer{code: resp.StatusCode, raw: string(data)}
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusOK:
		err = json.Unmarshal(data, &a.order)
	case http.StatusAccepted, http.StatusConflict:
		err = json.Unmarshal(data, &a.entry)
	}
	return a, err
}

// TestLotteryBurstAcrossEdges is an opening lottery as real traffic
// arrives: 1,000 signed-in buyers, each on its own fresh connection, ask in
// the window through two edge processes and are told "in line"; after the
// draw every buyer retries through the other edge (every third a third time
// through the first): exactly stock win, a winner's retries answer the same
// order 201 and never a second unit, a loser's answer 409 sold_out with the
// same waitlist place, and Redis holds exactly the winners' orders.
func TestLotteryBurstAcrossEdges(t *testing.T) {
	cfg := baseConfig()
	c := newCluster(t, redistest.Options{}, cfg)
	const (
		drop     = "lotburst"
		stock    = 100
		nBuyers  = 1000
		windowMs = 15000 // wide: 1,000 cold connections on a shared 2-core machine
	)
	urls := []string{
		startEdge(t, "l0", t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg).URL,
		startEdge(t, "l1", t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg).URL,
	}
	ctx := context.Background()
	d := checkout.Drop{ID: drop, Stream: "cam1", OpensAt: time.Now().UTC().Add(500 * time.Millisecond),
		Lottery: &checkout.Lottery{WindowMs: windowMs},
		SKUs:    []checkout.SKU{{SKU: "tee", Name: "Tee", PriceCents: 1999, Currency: "EUR", Stock: stock, MaxPerBuyer: 1}}}
	if _, err := c.ctl.CreateDrop(ctx, d); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		st, err := c.rdb.HGet(ctx, "{drop:"+drop+"}:meta", "state").Result()
		if err != nil {
			t.Fatalf("drop state in Redis: %v", err)
		}
		return st
	}
	eventually(t, 15*time.Second, "the lottery window to open", func() bool { return state() == checkout.StateDrawing })
	lot, err := c.rdb.HGetAll(ctx, "{drop:"+drop+"}:lottery").Result()
	if err != nil || len(lot["seed_hash"]) != 64 {
		t.Fatalf("lottery record in Redis: %v %v", lot, err)
	}
	windowEnds := time.UnixMilli(int64(mustAtoi(t, lot["started_ms"]))).Add(windowMs * time.Millisecond)

	name := func(i int) string { return fmt.Sprintf("lot-%d", i) }
	key := func(i int) string { return "k-" + name(i) }
	// A buyer whose connection fails or who is told 5xx tries again with
	// the same key (marked a retry), as the viewer page does; each such
	// try is counted and logged, never hidden.
	var (
		tmu       sync.Mutex
		transient []string
	)
	ask := func(round, i int) (lotteryAnswer, error) {
		retry := round > 0
		for try := 0; ; try++ {
			a, err := coldOrder(urls[(i+round)%2], drop, name(i), key(i), retry)
			if (err == nil && a.code < 500) || try == 4 {
				return a, err
			}
			tmu.Lock()
			transient = append(transient, fmt.Sprintf("round %d buyer %d: %d %v %.80s", round, i, a.code, err, a.raw))
			tmu.Unlock()
			retry = true
			time.Sleep(time.Duration(50<<try) * time.Millisecond) // backoff between a buyer's tries, not synchronisation
		}
	}
	defer func() {
		if len(transient) > 0 {
			t.Logf("%d transient answers retried (first %.200s)", len(transient), transient[0])
		}
	}()

	// Round 0: everyone at once, each on a fresh connection.
	first := make([]lotteryAnswer, nBuyers)
	errs := make([]error, nBuyers)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range nBuyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			first[i], errs[i] = ask(0, i)
		}()
	}
	close(release)
	wg.Wait()
	if time.Now().After(windowEnds) {
		t.Fatalf("the burst outlasted the %d ms window: the test proves nothing on this machine", windowMs)
	}
	entries := map[string]int{} // entry id -> buyer
	for i, a := range first {
		if errs[i] != nil {
			t.Fatalf("buyer %d in the window: %v", i, errs[i])
		}
		want := checkout.OrderID(drop, buyers.ID(name(i)), key(i))
		if a.code != http.StatusAccepted || !a.entry.InLine || a.entry.Entry != want || a.entry.SeedHash != lot["seed_hash"] ||
			a.entry.DrawAt.IsZero() {
			t.Fatalf("buyer %d in the window: %d %s, want 202 in line as entry %s with the seed hash", i, a.code, a.raw, want)
		}
		entries[a.entry.Entry] = i
	}
	if n, _ := c.rdb.HLen(ctx, "{drop:"+drop+"}:entries").Result(); n != nBuyers {
		t.Fatalf("%d entries in Redis, want %d", n, nBuyers)
	}

	eventually(t, time.Until(windowEnds)+60*time.Second, "the draw", func() bool { return state() == checkout.StateOpen })

	// What the draw recorded, straight from Redis.
	results, err := c.rdb.HGetAll(ctx, "{drop:"+drop+"}:results").Result()
	if err != nil {
		t.Fatal(err)
	}
	wonBy := map[int]string{}  // buyer -> order id
	placeOf := map[int]int{}   // buyer -> waitlist place
	places := map[int]string{} // place -> entry
	for id, r := range results {
		i, ok := entries[id]
		if !ok {
			t.Fatalf("result for an entry no buyer was told about: %s %q", id, r)
		}
		kind, arg, _ := strings.Cut(r, " ")
		switch kind {
		case checkout.EntryWon:
			if arg != id {
				t.Fatalf("entry %s won order %s, want its own id", id, arg)
			}
			wonBy[i] = arg
		case checkout.EntryLost:
			p := mustAtoi(t, arg)
			if p < 1 || p > nBuyers-stock || places[p] != "" {
				t.Fatalf("entry %s lost with place %d (taken by %q)", id, p, places[p])
			}
			places[p] = id
			placeOf[i] = p
		default:
			t.Fatalf("entry %s: result %q", id, r)
		}
	}
	if len(results) != nBuyers || len(wonBy) != stock || len(places) != nBuyers-stock {
		t.Fatalf("results: %d recorded, %d won, %d waitlisted; want %d, %d, %d", len(results), len(wonBy), len(places),
			nBuyers, stock, nBuyers-stock)
	}

	// Rounds 1 and 2: every buyer through the other edge, every third back
	// through the first one; fresh connections again.
	check := func(round, i int, a lotteryAnswer) error {
		if oid, won := wonBy[i]; won {
			if a.code != http.StatusCreated || a.order.ID != oid || a.order.Qty != 1 || a.order.Status == checkout.StatusCancelled {
				return fmt.Errorf("winner %d, round %d: %d %s, want 201 with order %s", i, round, a.code, a.raw, oid)
			}
			return nil
		}
		if a.code != http.StatusConflict || a.entry.Code != "sold_out" || a.entry.WaitlistPlace != placeOf[i] ||
			a.entry.Result != checkout.EntryLost {
			return fmt.Errorf("loser %d, round %d: %d %s, want 409 sold_out at waitlist place %d", i, round, a.code, a.raw, placeOf[i])
		}
		return nil
	}
	for round := 1; round <= 2; round++ {
		fails := make([]error, nBuyers)
		var wg sync.WaitGroup
		for i := range nBuyers {
			if round == 2 && i%3 != 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := ask(round, i)
				if err == nil {
					err = check(round, i, a)
				}
				fails[i] = err
			}()
		}
		wg.Wait()
		for _, err := range fails {
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	// Redis: exactly the winners' orders, live, each created once; sold
	// equals winners, nothing oversold, no unit at an edge or free.
	orders := c.storedOrders(t, drop)
	events := c.createdEvents(t, drop)
	if len(orders) != stock {
		t.Fatalf("%d orders in Redis, want %d", len(orders), stock)
	}
	for i, oid := range wonBy {
		o, ok := orders[oid]
		if !ok || o.Status == checkout.StatusCancelled || o.Buyer != buyers.ID(name(i)) || o.Qty != 1 || o.Edge != checkout.LotteryEdge {
			t.Fatalf("winner %d's order %s in Redis: %+v (found %v)", i, oid, o, ok)
		}
		if events[oid] != 1 {
			t.Fatalf("order %s has %d created events, want 1", oid, events[oid])
		}
	}
	eventually(t, 20*time.Second, "books to settle", func() bool {
		tt := c.totals(t, drop)
		return tt.HeldAtEdges == 0
	})
	if tt := c.totals(t, drop); tt.Sold != stock || tt.Free != 0 || tt.HeldAtEdges != 0 || tt.Orders != stock {
		t.Fatalf("totals %+v, want sold %d and nothing free or at an edge", tt, stock)
	}
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
