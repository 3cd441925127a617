package checkouthttp

import (
	"bytes"
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
	"github.com/livedrop/livedrop/internal/redistest"
)

// startRSVP is start with RSVP tokens on: a control API and two edges
// on one real Redis, sharing the RSVP key.
func startRSVP(t *testing.T) (control string, edges [2]string, buyers *buyertest.Buyers, st checkout.Store) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	cfg := checkout.Defaults()
	cfg.SyncInterval = 20 * time.Millisecond
	cfg.RateLimitPerBuyer = 0
	log := slog.New(slog.DiscardHandler)
	st, err := checkout.OpenRedisStore(context.Background(), srv.URL(), log)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := checkout.NewRSVPKeys(nil, []byte("rsvp-http-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, Store: st, RSVP: keys})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	go func() { _ = ctl.Run(ctx); done <- struct{}{} }()
	cm := http.NewServeMux()
	capi, err := NewControlAPI(ctl, token, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	capi.SetRSVPLinkBase("https://shop.example/")
	capi.Register(cm)
	cs := httptest.NewServer(cm)
	tokens, err := NewOrderTokens([]byte("order-token-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	buyers = buyertest.New(t, "")
	var servers []*httptest.Server
	for i := range edges {
		e, err := checkout.NewEdge(checkout.EdgeParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, DataDir: t.TempDir(),
			EdgeID: fmt.Sprintf("e%d", i+1), Store: st, RSVP: keys})
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = e.Run(ctx); done <- struct{}{} }()
		<-e.Ready()
		api, err := NewEdgeAPI(EdgeParams{Edge: e, Tokens: tokens, Sessions: buyers.Sessions(), Orders: e, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		em := http.NewServeMux()
		api.Register(em)
		s := httptest.NewServer(em)
		servers = append(servers, s)
		edges[i] = s.URL
	}
	t.Cleanup(func() {
		cs.Close()
		for _, s := range servers {
			s.Close()
		}
		cancel()
		for range 3 {
			<-done
		}
		st.Close()
	})
	return cs.URL, edges, buyers, st
}

// The seller issues RSVPs over HTTP and gets links; a link's token buys on
// one edge, is refused as used on the other, and a forged token and one
// over the free stock get their clear errors.
func TestRSVPOverHTTP(t *testing.T) {
	control, edges, buyers, st := startRSVP(t)
	if code, _ := do(t, "POST", control+"/v1/drops", token, nil, dropJSON); code != 201 {
		t.Fatalf("create: %d", code)
	}
	deadline := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if code, _ := do(t, "POST", control+"/v1/drops/d1/rsvps", "", nil, `{"sku":"tee","count":2,"deadline":"`+deadline+`"}`); code != 401 {
		t.Fatalf("issuing without the control token: %d, want 401", code)
	}
	if code, body := do(t, "POST", control+"/v1/drops/d1/rsvps", token, nil, `{"sku":"tee","count":6,"deadline":"`+deadline+`"}`); code != 409 || body["code"] != "not_enough_free" {
		t.Fatalf("reserving 6 of 5: %d %v, want 409 not_enough_free", code, body)
	}
	if code, body := do(t, "POST", control+"/v1/drops/d1/rsvps", token, nil, `{"sku":"tee","count":2,"deadline":"2001-01-01T00:00:00Z"}`); code != 400 {
		t.Fatalf("a past deadline: %d %v, want 400", code, body)
	}
	code, body := do(t, "POST", control+"/v1/drops/d1/rsvps", token, nil, `{"sku":"tee","count":2,"deadline":"`+deadline+`"}`)
	if code != 201 {
		t.Fatalf("issue: %d %v", code, body)
	}
	var batch RSVPBatch
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &batch); err != nil || len(batch.Tokens) != 2 {
		t.Fatalf("batch %s: %v", raw, err)
	}
	link := batch.Tokens[0].URL
	if !strings.HasPrefix(link, "https://shop.example/watch/cam1?rsvp=") {
		t.Fatalf("link %q", link)
	}
	tok := strings.TrimPrefix(link, "https://shop.example/watch/cam1?rsvp=")
	req, _ := http.NewRequest("GET", control+batch.Tokens[0].QR, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	png, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("qr: %d %q %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(png))
	}
	if code, body := do(t, "GET", control+"/v1/drops/d1/rsvps/r1.d1.tee.x.1.1.k.m/qr.png", token, nil, ""); code != 400 || body["code"] != "rsvp_invalid" {
		t.Fatalf("qr of a forged token: %d %v, want 400", code, body)
	}
	if code, body := do(t, "GET", control+"/v1/drops/d1", token, nil, ""); code != 200 || body["skus"].([]any)[0].(map[string]any)["reserved"] != 2.0 {
		t.Fatalf("totals: %d %v, want reserved 2", code, body)
	}
	if code, _ := do(t, "POST", control+"/v1/drops/d1/open", token, nil, ""); code != 200 {
		t.Fatalf("open: %d", code)
	}
	order := func(edge, buyer, key, rsvp string) (int, map[string]any) {
		return do(t, "POST", edge+"/v1/drops/d1/orders", buyers.Token(buyer), map[string]string{"Idempotency-Key": key},
			fmt.Sprintf(`{"sku":"tee","qty":1,"rsvp":%q}`, rsvp))
	}
	if code, body := order(edges[0], "ann", "k1", tok); code != 201 || body["rsvp"] != batch.Tokens[0].ID {
		t.Fatalf("redeem: %d %v", code, body)
	}
	if code, body := order(edges[0], "ann", "k1", tok); code != 201 {
		t.Fatalf("the same buyer and key again: %d %v, want the same order", code, body)
	}
	if code, body := order(edges[1], "bob", "k1", tok); code != 409 || body["code"] != "rsvp_used" {
		t.Fatalf("second use on the other edge: %d %v, want 409 rsvp_used", code, body)
	}
	if code, body := order(edges[1], "bob", "k2", tok[:len(tok)-2]+"xx"); code != 400 || body["code"] != "rsvp_invalid" {
		t.Fatalf("forged: %d %v, want 400 rsvp_invalid", code, body)
	}
	tt, err := st.Totals(context.Background(), "d1")
	if err != nil || tt.SKUs[0].Reserved != 1 || tt.SKUs[0].Sold != 1 {
		t.Fatalf("totals %+v %v", tt, err)
	}
}

// The seller lists a drop's RSVPs and cancels an unused one over HTTP; the
// cancelled token is refused at every edge with its reason, a used token
// cannot be cancelled, and both routes want the control token.
func TestRSVPListAndCancelOverHTTP(t *testing.T) {
	control, edges, buyers, st := startRSVP(t)
	if code, _ := do(t, "POST", control+"/v1/drops", token, nil, dropJSON); code != 201 {
		t.Fatalf("create: %d", code)
	}
	deadline := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	code, body := do(t, "POST", control+"/v1/drops/d1/rsvps", token, nil, `{"sku":"tee","count":2,"deadline":"`+deadline+`"}`)
	if code != 201 {
		t.Fatalf("issue: %d %v", code, body)
	}
	var batch RSVPBatch
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &batch); err != nil || len(batch.Tokens) != 2 {
		t.Fatalf("batch %s: %v", raw, err)
	}
	if code, _ := do(t, "POST", control+"/v1/drops/d1/open", token, nil, ""); code != 200 {
		t.Fatalf("open: %d", code)
	}
	order := func(edge, buyer, key, rsvp string) (int, map[string]any) {
		return do(t, "POST", edge+"/v1/drops/d1/orders", buyers.Token(buyer), map[string]string{"Idempotency-Key": key},
			fmt.Sprintf(`{"sku":"tee","qty":1,"rsvp":%q}`, rsvp))
	}
	code, ob := order(edges[0], "ann", "k1", batch.Tokens[0].Token)
	if code != 201 {
		t.Fatalf("redeem: %d %v", code, ob)
	}
	for _, path := range []string{"GET /v1/drops/d1/rsvps", "DELETE /v1/drops/d1/rsvps/" + batch.Tokens[1].ID} {
		m, p, _ := strings.Cut(path, " ")
		if code, _ := do(t, m, control+p, "", nil, ""); code != 401 {
			t.Fatalf("%s without the control token: %d, want 401", path, code)
		}
	}
	if code, body := do(t, "DELETE", control+"/v1/drops/d1/rsvps/"+batch.Tokens[0].ID, token, nil, ""); code != 409 || body["code"] != "rsvp_used" {
		t.Fatalf("cancel a used token: %d %v, want 409 rsvp_used", code, body)
	}
	if code, body := do(t, "DELETE", control+"/v1/drops/d1/rsvps/"+batch.Batch+"-9", token, nil, ""); code != 404 {
		t.Fatalf("cancel no such token: %d %v, want 404", code, body)
	}
	if code, body := do(t, "DELETE", control+"/v1/drops/d1/rsvps/"+batch.Tokens[1].Token, token, nil, ""); code != 200 || body["state"] != "cancelled" || body["id"] != batch.Tokens[1].ID || body["already"] != nil {
		t.Fatalf("cancel by token: %d %v", code, body)
	}
	if code, body := do(t, "DELETE", control+"/v1/drops/d1/rsvps/"+batch.Tokens[1].ID, token, nil, ""); code != 200 || body["already"] != true {
		t.Fatalf("cancel again by id: %d %v, want 200 already", code, body)
	}
	tt, err := st.Totals(context.Background(), "d1")
	if err != nil || tt.SKUs[0].Reserved != 0 || tt.SKUs[0].Sold != 1 || tt.SKUs[0].Free != 4 {
		t.Fatalf("totals after the cancel %+v %v, want reserved 0, sold 1, free 4", tt, err)
	}
	if code, body := order(edges[1], "bob", "k2", batch.Tokens[1].Token); code != 409 || body["code"] != "rsvp_cancelled" {
		t.Fatalf("a cancelled token at the other edge: %d %v, want 409 rsvp_cancelled", code, body)
	}
	code, body = do(t, "GET", control+"/v1/drops/d1/rsvps", token, nil, "")
	if code != 200 {
		t.Fatalf("list: %d %v", code, body)
	}
	var list RSVPList
	raw, _ = json.Marshal(body)
	if err := json.Unmarshal(raw, &list); err != nil || len(list.Batches) != 1 || len(list.Batches[0].Tokens) != 2 {
		t.Fatalf("list %s: %v", raw, err)
	}
	lb := list.Batches[0]
	t0, t1 := lb.Tokens[0], lb.Tokens[1]
	if lb.Batch != batch.Batch || lb.Units != 2 || lb.Left != 0 ||
		t0.State != "used" || t0.Order != ob["id"] || t0.URL != batch.Tokens[0].URL ||
		t1.State != "cancelled" || t1.Token != batch.Tokens[1].Token {
		t.Fatalf("listed %s", raw)
	}
}
