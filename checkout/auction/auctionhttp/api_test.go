package auctionhttp

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/guard"
)

const token = "control-token-0123456789abcdef"

// newServers serves one MemStore's lots: the control API and an edge API
// on one mux, as the demo does, with the closer making orders in a
// checkout MemStore.
func newServers(t *testing.T) (*httptest.Server, *buyertest.Buyers, checkout.Store) {
	t.Helper()
	lots := auction.NewMemStore(nil)
	orders, err := checkout.OpenMemStore(t.TempDir()+"/store.journal", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { orders.Close() })
	closer, err := auction.NewCloser(auction.CloserParams{Store: lots, Orders: orders, Payments: checkout.NewTestProvider(checkout.PaymentConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	g, err := guard.New(guard.Params{Config: guard.Defaults()})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := NewControlAPI(lots, closer, token, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := auction.NewEdge(auction.EdgeParams{Store: lots})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }()
	buyers := buyertest.New(t, "")
	api, err := NewEdgeAPI(e, buyers.Sessions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ctl.Register(mux)
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return srv, buyers, orders
}

func do(t *testing.T, method, url, auth, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestSellerAndBuyers(t *testing.T) {
	srv, buyers, orders := newServers(t)
	u := srv.URL
	lot := `{"id":"g1","title":"Guitar","currency":"EUR","start_cents":1000,"duration_ms":60000}`
	if code, _ := do(t, "POST", u+"/v1/lots", "", "", lot); code != 401 {
		t.Fatalf("create without the token: %d", code)
	}
	if code, m := do(t, "POST", u+"/v1/lots", "Bearer "+token, "", `{"id":"g1","currency":"EUR"}`); code != 400 {
		t.Fatalf("bad lot: %d %v", code, m)
	}
	if code, m := do(t, "POST", u+"/v1/lots", "Bearer "+token, "", lot); code != 201 || m["extend_ms"] != 10000.0 {
		t.Fatalf("create: %d %v", code, m)
	}
	if code, _ := do(t, "POST", u+"/v1/lots", "Bearer "+token, "", lot); code != 409 {
		t.Fatalf("create twice: %d", code)
	}
	alice, bob := buyers.Bearer("alice"), buyers.Bearer("bob")
	if code, m := do(t, "POST", u+"/v1/lots/g1/bids", alice, "a0", `{"amount_cents":1000}`); code != 409 || m["code"] != "not_started" {
		t.Fatalf("bid before the start: %d %v", code, m)
	}
	if code, _ := do(t, "POST", u+"/v1/lots/g1/start", "Bearer "+token, "", ""); code != 200 {
		t.Fatalf("start: %d", code)
	}

	// A viewer follows the lot live.
	resp, err := http.Get(u + "/v1/lots/g1/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	live := make(chan auction.Update, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var up auction.Update
				if json.Unmarshal([]byte(d), &up) == nil {
					live <- up
				}
			}
		}
	}()
	if first := <-live; first.Phase != auction.PhaseLive || first.MinCents != 1000 {
		t.Fatalf("first live update %+v", first)
	}

	for _, c := range []struct {
		auth, key, body string
		code            int
		result          string
	}{
		{"", "k", `{"amount_cents":1000}`, 401, ""},
		{alice, "", `{"amount_cents":1000}`, 400, ""},
		{alice, "k1", `{"amount_cents":1000,"max_cents":2000}`, 400, ""},
		{alice, "k1", `{"amount_cents":"x"}`, 400, ""},
		{alice, "k1", `{"max_cents":3000}`, 201, "accepted"},
		{alice, "k1", `{"max_cents":3000}`, 201, "accepted"}, // a retry: the first answer
		{bob, "b1", `{"amount_cents":1000}`, 409, "too_low"},
		{bob, "b2", `{"amount_cents":2000}`, 409, "outbid"},
		{bob, "b3", `{"max_cents":5000}`, 201, "accepted"},
	} {
		code, m := do(t, "POST", u+"/v1/lots/g1/bids", c.auth, c.key, c.body)
		if code != c.code || (c.result != "" && m["result"] != c.result) {
			t.Fatalf("bid %s %s: %d %v, want %d %s", c.key, c.body, code, m, c.code, c.result)
		}
	}
	code, m := do(t, "GET", u+"/v1/lots/g1", "", "", "")
	if code != 200 || m["price_cents"] != 3100.0 || m["leader"] != auction.Mask(buyers.ID("bob")) || m["min_cents"] != 3200.0 {
		t.Fatalf("lot: %d %v", code, m)
	}
	deadline := time.After(5 * time.Second)
	for seen := false; !seen; {
		select {
		case up := <-live:
			seen = up.PriceCents == 3100
		case <-deadline:
			t.Fatal("the viewer never saw 31.00")
		}
	}
	// The hammer: bids after it are over, and the lot is bob's order.
	code, m = do(t, "POST", u+"/v1/lots/g1/end", "Bearer "+token, "", "")
	if code != 200 || m["order_id"] == nil || m["leader_buyer"] != buyers.ID("bob") {
		t.Fatalf("end: %d %v", code, m)
	}
	// A second hammer changes nothing (the lot is settled once).
	if code, again := do(t, "POST", u+"/v1/lots/g1/end", "Bearer "+token, "", ""); code != 200 || again["order_id"] != m["order_id"] {
		t.Fatalf("second end: %d %v", code, again)
	}
	if code, m := do(t, "POST", u+"/v1/lots/g1/bids", alice, "k9", `{"amount_cents":9000}`); code != 409 || m["code"] != "auction_over" {
		t.Fatalf("bid after the end: %d %v", code, m)
	}
	o, err := orders.Order(context.Background(), m["order_id"].(string))
	if err != nil || o.Buyer != buyers.ID("bob") || o.TotalCents != 3100 || o.Status != checkout.StatusPaid {
		t.Fatalf("order %+v %v", o, err)
	}
	if code, _ := do(t, "GET", u+"/v1/lots/nope", "", "", ""); code != 404 {
		t.Fatalf("unknown lot: %d", code)
	}
}
