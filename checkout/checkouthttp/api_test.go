package checkouthttp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/redistest"
)

const token = "test-token-0123456789"

type env struct {
	edge, control string
	store         checkout.Store
	buyers        *buyertest.Buyers
	capi          *ControlAPI
}

func start(t *testing.T, mut func(*checkout.Config)) env {
	t.Helper()
	return startGuarded(t, mut, nil)
}

// startGuarded is start with g as the control API's failure budget.
func startGuarded(t *testing.T, mut func(*checkout.Config), g *guard.Guard) env {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	cfg := checkout.Defaults()
	cfg.SyncInterval = 20 * time.Millisecond
	cfg.RateLimitPerBuyer = 0
	if mut != nil {
		mut(&cfg)
	}
	log := slog.New(slog.DiscardHandler)
	st, err := checkout.OpenRedisStore(context.Background(), srv.URL(), log)
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	e, err := checkout.NewEdge(checkout.EdgeParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, DataDir: t.TempDir(), EdgeID: "e1", Region: "eu", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = ctl.Run(ctx); done <- struct{}{} }()
	go func() { _ = e.Run(ctx); done <- struct{}{} }()
	<-e.Ready()
	cm, em := http.NewServeMux(), http.NewServeMux()
	capi, err := NewControlAPI(ctl, token, log, g)
	if err != nil {
		t.Fatal(err)
	}
	capi.Register(cm)
	tokens, err := NewOrderTokens([]byte("order-token-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	buyers := buyertest.New(t, "")
	api, err := NewEdgeAPI(EdgeParams{Edge: e, Tokens: tokens, Sessions: buyers.Sessions(), Orders: e, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	api.Register(em)
	cs, es := httptest.NewServer(cm), httptest.NewServer(em)
	t.Cleanup(func() {
		cs.Close()
		es.Close()
		cancel()
		<-done
		<-done
		st.Close()
	})
	return env{edge: es.URL, control: cs.URL, store: st, buyers: buyers, capi: capi}
}

func do(t *testing.T, method, url, auth string, hdr map[string]string, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s %s: non-JSON body %q", method, url, data)
	}
	return resp.StatusCode, m
}

const dropJSON = `{"id":"d1","stream":"cam1","skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":5,"max_per_buyer":2}]}`

func TestControlAPIAuth(t *testing.T) {
	e := start(t, nil)
	for _, tok := range []string{"", "wrong-token-0123456789", token + "x"} {
		if code, body := do(t, "POST", e.control+"/v1/drops", tok, nil, dropJSON); code != 401 || body["error"] == nil {
			t.Fatalf("token %q: %d %v, want 401 with an error", tok, code, body)
		}
	}
	if code, _ := do(t, "GET", e.control+"/v1/drops/d1", "", nil, ""); code != 401 {
		t.Fatalf("read without token: %d", code)
	}
	if _, err := e.store.Totals(context.Background(), "d1"); err == nil {
		t.Fatal("drop created without a valid token")
	}
}

func TestOrderFlowStatusCodes(t *testing.T) {
	e := start(t, nil)
	order := func(buyer, key string, qty int) (int, map[string]any) {
		return do(t, "POST", e.edge+"/v1/drops/d1/orders", e.buyers.Token(buyer), map[string]string{"Idempotency-Key": key},
			fmt.Sprintf(`{"sku":"tee","qty":%d,"buyer":%q}`, qty, buyer))
	}
	if code, _ := order("a", "k1", 1); code != 404 {
		t.Fatalf("order for a missing drop: %d, want 404", code)
	}
	if code, _ := do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code, _ := do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON); code != 409 {
		t.Fatalf("create twice: %d, want 409", code)
	}
	if code, _ := order("a", "k1", 1); code != 403 {
		t.Fatalf("order before open: %d, want 403", code)
	}
	if code, _ := do(t, "POST", e.control+"/v1/drops/d1/open", token, nil, ""); code != 200 {
		t.Fatalf("open: %d", code)
	}
	code, o := order("a", "k1", 2)
	if code != 201 || o["status"] != "pending" || o["price_cents"] != 2500.0 || o["qty"] != 2.0 || o["sku"] != "tee" {
		t.Fatalf("order: %d %v", code, o)
	}
	if code, again := order("a", "k1", 2); code != 201 || again["id"] != o["id"] {
		t.Fatalf("retry: %d %v, want the same order", code, again)
	}
	if code, _ := order("a", "k2", 1); code != 422 {
		t.Fatalf("over the per-buyer limit: %d, want 422", code)
	}
	if code, _ := order("b", "k3", 2); code != 201 {
		t.Fatalf("second buyer: %d", code)
	}
	if code, body := order("c", "k4", 2); code != 409 || !strings.Contains(fmt.Sprint(body["error"]), "sold out") {
		t.Fatalf("more than left: %d %v, want 409 sold out", code, body)
	}
	// An order is read with the token it was answered with, and only so.
	id, tok := o["id"].(string), fmt.Sprint(o["token"])
	if len(tok) < 32 {
		t.Fatalf("order answered without a token: %v", o)
	}
	if code, got := do(t, "GET", e.edge+"/v1/orders/"+id+"?token="+tok, "", nil, ""); code != 200 || got["id"] != id {
		t.Fatalf("read order with its token: %d %v", code, got)
	}
	if code, got := do(t, "GET", e.edge+"/v1/orders/"+id, "", map[string]string{OrderTokenHeader: tok}, ""); code != 200 || got["id"] != id {
		t.Fatalf("read order with its token in %s: %d %v", OrderTokenHeader, code, got)
	}
	if code, got := do(t, "GET", e.edge+"/v1/orders/"+id, "", nil, ""); code != 403 || !strings.Contains(fmt.Sprint(got["error"]), "needs its token") {
		t.Fatalf("read order without a token: %d %v, want 403", code, got)
	}
	if code, got := do(t, "GET", e.edge+"/v1/orders/"+id+"?token=aaaa"+tok[4:], "", nil, ""); code != 404 || got["buyer"] != nil {
		t.Fatalf("read order with a wrong token: %d %v, want 404 and nothing of the order", code, got)
	}
	if code, _ := do(t, "GET", e.edge+"/v1/orders/nope?token="+tok, "", nil, ""); code != 404 {
		t.Fatalf("read missing order: %d", code)
	}
	var tot map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, tot = do(t, "GET", e.control+"/v1/drops/d1", token, nil, "")
		sku := tot["skus"].([]any)[0].(map[string]any)
		if sku["sold"] == 4.0 && sku["orders"] == 2.0 && sku["revenue_cents"] == 10000.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("totals never showed 4 sold: %v", tot)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := do(t, "POST", e.control+"/v1/drops/d1/close", token, nil, ""); code != 200 {
		t.Fatalf("close: %d", code)
	}
	if code, _ := do(t, "POST", e.control+"/v1/drops/d1/open", token, nil, ""); code != 409 {
		t.Fatalf("reopen closed: %d, want 409", code)
	}
}

func TestBadOrderBodiesChangeNothing(t *testing.T) {
	e := start(t, nil)
	do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON)
	do(t, "POST", e.control+"/v1/drops/d1/open", token, nil, "")
	key := map[string]string{"Idempotency-Key": "k"}
	cases := []struct {
		name, body string
		hdr        map[string]string
		want       string
	}{
		{"empty", "", key, "empty body"},
		{"not json", "buy!", key, "malformed JSON"},
		{"array", `[1]`, key, "malformed JSON"},
		{"unknown field", `{"sku":"tee","qty":1,"buyer":"a","price_cents":1}`, key, "unknown field"},
		{"two objects", `{"sku":"tee","qty":1,"buyer":"a"}{}`, key, "after the object"},
		{"zero qty", `{"sku":"tee","qty":0,"buyer":"a"}`, key, "qty"},
		{"huge qty", `{"sku":"tee","qty":1000000,"buyer":"a"}`, key, "qty"},
		{"bad sku", `{"sku":"../x","qty":1,"buyer":"a"}`, key, "sku"},
		{"no key", `{"sku":"tee","qty":1,"buyer":"a"}`, nil, "Idempotency-Key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, "POST", e.edge+"/v1/drops/d1/orders", e.buyers.Token("a"), tc.hdr, tc.body)
			if code != 400 || !strings.Contains(fmt.Sprint(body["error"]), tc.want) {
				t.Fatalf("%d %v, want 400 mentioning %q", code, body, tc.want)
			}
		})
	}
	oversized := `{"sku":"tee","qty":1,"buyer":"` + strings.Repeat("a", 5000) + `"}`
	if code, body := do(t, "POST", e.edge+"/v1/drops/d1/orders", e.buyers.Token("a"), key, oversized); code != 413 || !strings.Contains(fmt.Sprint(body["error"]), "too large") {
		t.Fatalf("oversized order: %d %v, want 413 saying too large", code, body)
	}
	if code, _ := do(t, "POST", e.edge+"/v1/drops/"+strings.Repeat("x", 65)+"/orders", e.buyers.Token("a"), key, `{"sku":"tee","qty":1,"buyer":"a"}`); code != 400 {
		t.Fatalf("long drop id: %d, want 400", code)
	}
	tot, err := e.store.Totals(context.Background(), "d1")
	if err != nil {
		t.Fatal(err)
	}
	if s := tot.SKUs[0]; s.Sold != 0 || s.Orders != 0 || s.Cancelled != 0 {
		t.Fatalf("bad requests changed the drop: %+v", s)
	}
	if code, body := do(t, "POST", e.control+"/v1/drops", token, nil, `{"id":"d2","stream":"cam1","skus":[]}`); code != 400 || body["error"] == nil {
		t.Fatalf("drop without skus: %d %v", code, body)
	}
	huge := `{"id":"d3","stream":"cam1","skus":[{"sku":"` + strings.Repeat("a", MaxDropBodyBytes) + `"}]}`
	if code, body := do(t, "POST", e.control+"/v1/drops", token, nil, huge); code != 413 || !strings.Contains(fmt.Sprint(body["error"]), "too large") {
		t.Fatalf("oversized drop: %d %v, want 413 saying too large", code, body)
	}
	if code, _ := do(t, "GET", e.control+"/v1/drops/d3", token, nil, ""); code != 404 {
		t.Fatalf("oversized drop was created: GET %d", code)
	}
}

func TestRateLimited(t *testing.T) {
	e := start(t, func(c *checkout.Config) { c.RateLimitPerBuyer = 1; c.RateLimitBurst = 2 })
	do(t, "POST", e.control+"/v1/drops", token, nil, `{"id":"d1","stream":"cam1","skus":[{"sku":"tee","name":"Tee","price_cents":1,"currency":"EUR","stock":50,"max_per_buyer":0}]}`)
	do(t, "POST", e.control+"/v1/drops/d1/open", token, nil, "")
	got := map[int]int{}
	for i := range 5 {
		code, _ := do(t, "POST", e.edge+"/v1/drops/d1/orders", e.buyers.Token("spammer"), map[string]string{"Idempotency-Key": fmt.Sprint(i)}, `{"sku":"tee","qty":1}`)
		got[code]++
	}
	if got[201] != 2 || got[429] != 3 {
		t.Fatalf("statuses %v, want 2x201 and 3x429", got)
	}
}
