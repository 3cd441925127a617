package checkouthttp

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSellerOrders: a viewer's order reaches the seller's live feed, is
// listed (JSON, CSV) and found, is refunded with its unit back on sale, and
// its buyer reads it refunded.
func TestSellerOrders(t *testing.T) {
	e := start(t, nil)
	if code, _ := do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code, _ := do(t, "POST", e.control+"/v1/drops/d1/open", token, nil, ""); code != 200 {
		t.Fatalf("open: %d", code)
	}
	ws := "ws" + strings.TrimPrefix(e.control, "http") + "/v1/drops/d1/orders/live"
	// Without a ticket, with another drop's, or from another site: refused.
	if _, resp, err := websocket.DefaultDialer.Dial(ws, nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("feed without a ticket: %v %v, want 401", resp, err)
	}
	_, tk := do(t, "POST", e.control+"/v1/drops/d2/orders/live/ticket", token, nil, "")
	if _, resp, err := websocket.DefaultDialer.Dial(ws+"?ticket="+tk["ticket"].(string), nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("feed with another drop's ticket: %v %v, want 401", resp, err)
	}
	_, tk = do(t, "POST", e.control+"/v1/drops/d1/orders/live/ticket", token, nil, "")
	if _, resp, err := websocket.DefaultDialer.Dial(ws+"?ticket="+tk["ticket"].(string), http.Header{"Origin": {"https://evil.example"}}); err == nil || resp.StatusCode != 403 {
		t.Fatalf("feed from another origin: %v %v, want 403", resp, err)
	}
	conn, _, err := websocket.DefaultDialer.Dial(ws+"?after=0&ticket="+tk["ticket"].(string), nil)
	if err != nil {
		t.Fatalf("feed: %v", err)
	}
	defer conn.Close()
	msgs := make(chan LiveMessage, 16)
	go func() {
		defer close(msgs)
		for {
			var m LiveMessage
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			msgs <- m
		}
	}()
	if m := <-msgs; m.Total != 0 || len(m.Orders) != 0 {
		t.Fatalf("first message: %+v, want the count 0", m)
	}

	placed := time.Now()
	code, o := do(t, "POST", e.edge+"/v1/drops/d1/orders", e.buyers.Token("alice"), map[string]string{"Idempotency-Key": "k1"}, `{"sku":"tee","qty":2}`)
	if code != 201 {
		t.Fatalf("order: %d %v", code, o)
	}
	id, otok, buyer := o["id"].(string), o["token"].(string), o["buyer"].(string)
	var seen LiveMessage
	for seen.Total == 0 {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("feed closed")
			}
			seen = m
		case <-time.After(5 * time.Second):
			t.Fatal("the order never reached the live feed")
		}
	}
	t.Logf("order in the live feed %v after its 201", time.Since(placed))
	if len(seen.Orders) != 1 || seen.Orders[0].ID != id || seen.Orders[0].Buyer != buyer {
		t.Fatalf("feed: %+v", seen)
	}

	// Listed and found by its buyer (any case); nothing for another.
	code, page := do(t, "GET", e.control+"/v1/drops/d1/orders?q="+strings.ToUpper(buyer[:8]), token, nil, "")
	if code != 200 || page["total"] != 1.0 || len(page["orders"].([]any)) != 1 {
		t.Fatalf("search: %d %v", code, page)
	}
	if _, page = do(t, "GET", e.control+"/v1/drops/d1/orders?q=nobody", token, nil, ""); len(page["orders"].([]any)) != 0 {
		t.Fatalf("search nobody: %v", page)
	}
	if code, _ := do(t, "GET", e.control+"/v1/drops/d1/orders", "wrong-token-0123456789", nil, ""); code != 401 {
		t.Fatalf("list with a wrong token: %d", code)
	}
	req, _ := http.NewRequest("GET", e.control+"/v1/drops/d1/orders", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	csvBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(csvBody)), "\n")
	if resp.StatusCode != 200 || len(lines) != 2 || !strings.HasPrefix(lines[0], "id,created_at") || !strings.Contains(lines[1], id+",") || !strings.Contains(lines[1], ","+buyer+",") {
		t.Fatalf("csv: %d %q", resp.StatusCode, csvBody)
	}

	// Wait for the edge's payment, then refund with restock.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := e.store.Order(t.Context(), id)
		if err == nil && got.Status == "paid" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order never paid: %+v %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := do(t, "POST", e.control+"/v1/orders/"+id+"/refund", token, nil, `{"restock":"yes"}`); code != 400 {
		t.Fatalf("refund with a bad body: %d %v", code, body)
	}
	code, r := do(t, "POST", e.control+"/v1/orders/"+id+"/refund", token, nil, `{"restock":true}`)
	if code != 200 || r["status"] != "refunded" {
		t.Fatalf("refund: %d %v", code, r)
	}
	if code, r := do(t, "POST", e.control+"/v1/orders/"+id+"/refund", token, nil, `{"restock":true}`); code != 200 || r["status"] != "refunded" {
		t.Fatalf("refund again: %d %v", code, r)
	}
	_, tot := do(t, "GET", e.control+"/v1/drops/d1", token, nil, "")
	sku := tot["skus"].([]any)[0].(map[string]any)
	if sku["sold"] != 0.0 || sku["stock"] != 5.0 || sku["refunded"] != 1.0 {
		t.Fatalf("totals after the refund: %v", sku)
	}
	if code, mine := do(t, "GET", e.edge+"/v1/orders/"+id+"?token="+otok, "", nil, ""); code != 200 || mine["status"] != "refunded" {
		t.Fatalf("the buyer reads %d %v, want refunded", code, mine)
	}
	// The feed says so too.
	for {
		select {
		case m := <-msgs:
			if len(m.Orders) == 1 && m.Orders[0].Status == "refunded" {
				goto drop
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the refund never reached the live feed")
		}
	}
drop:
	code, dr := do(t, "POST", e.control+"/v1/drops/d1/refund", token, nil, `{"restock":false}`)
	if code != 200 || dr["already"] != 1.0 {
		t.Fatalf("refund the drop: %d %v", code, dr)
	}
}
