package checkouthttp

import (
	"fmt"
	"testing"
	"time"
)

// TestLotteryOverHTTP: a drop opening with a lottery answers orders in its
// window 202 "in line"; after the draw the buyer's entry reads won (with
// the order and its token) or lost (a waitlist place), a retry of a lost
// order is 409 with the same place, and the drop shows its seed.
func TestLotteryOverHTTP(t *testing.T) {
	e := start(t, nil)
	opens := time.Now().UTC().Add(300 * time.Millisecond).Format(time.RFC3339Nano)
	def := fmt.Sprintf(`{"id":"lot","stream":"cam1","opens_at":%q,"lottery":{"window_ms":1500},
		"skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":2,"max_per_buyer":1}]}`, opens)
	if code, body := do(t, "POST", e.control+"/v1/drops", token, nil, def); code != 201 || body["opens_at"] == nil {
		t.Fatalf("create: %d %v", code, body)
	}
	order := func(buyer string) (int, map[string]any) {
		return do(t, "POST", e.edge+"/v1/drops/lot/orders", e.buyers.Token(buyer), map[string]string{"Idempotency-Key": "k-" + buyer},
			`{"sku":"tee","qty":1}`)
	}
	if code, body := order("a"); code != 403 {
		t.Fatalf("before opens_at: %d %v, want 403", code, body)
	}
	var lot map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, tot := do(t, "GET", e.control+"/v1/drops/lot", token, nil, "")
		if tot["state"] == "drawing" {
			lot = tot["lottery"].(map[string]any)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never drawing: %v", tot)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(fmt.Sprint(lot["seed_hash"])) != 64 || lot["seed"] != nil {
		t.Fatalf("drawing shows %v, want a seed hash and no seed", lot)
	}
	entries := map[string]string{}
	for _, b := range []string{"a", "b", "c"} {
		code, body := order(b)
		if code != 202 || body["in_line"] != true || body["entry"] == nil || body["seed_hash"] != lot["seed_hash"] {
			t.Fatalf("order of %s in the window: %d %v, want 202 in line", b, code, body)
		}
		entries[b] = body["entry"].(string)
		if code, again := order(b); code != 202 || again["entry"] != body["entry"] {
			t.Fatalf("retry of %s in the window: %d %v", b, code, again)
		}
	}
	if code, _ := do(t, "GET", e.edge+"/v1/drops/lot/entries/"+entries["a"], e.buyers.Token("b"), nil, ""); code != 404 {
		t.Fatalf("another buyer's entry: %d, want 404", code)
	}
	won, lost := 0, 0
	for _, b := range []string{"a", "b", "c"} {
		var got map[string]any
		deadline := time.Now().Add(15 * time.Second)
		for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
			var code int
			code, got = do(t, "GET", e.edge+"/v1/drops/lot/entries/"+entries[b], e.buyers.Token(b), nil, "")
			if code != 200 {
				t.Fatalf("entry of %s: %d %v", b, code, got)
			}
			if got["in_line"] != true {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("entry of %s still in line: %v", b, got)
			}
			time.Sleep(wait)
		}
		if got["seed"] == nil {
			t.Fatalf("entry of %s after the draw without the seed: %v", b, got)
		}
		switch got["result"] {
		case "won":
			won++
			o, _ := got["order"].(map[string]any)
			if o == nil || o["id"] != entries[b] || o["token"] == nil {
				t.Fatalf("won entry without its order: %v", got)
			}
			if code, again := order(b); code != 201 || again["id"] != entries[b] {
				t.Fatalf("retry of a winner: %d %v, want 201 with the order", code, again)
			}
		case "lost":
			lost++
			if got["waitlist_place"] != 1.0 {
				t.Fatalf("lost entry: %v, want waitlist place 1", got)
			}
			if code, again := order(b); code != 409 || again["code"] != "sold_out" || again["waitlist_place"] != 1.0 {
				t.Fatalf("retry of a loser: %d %v, want 409 sold out with waitlist place 1", code, again)
			}
		default:
			t.Fatalf("entry of %s: %v", b, got)
		}
	}
	if won != 2 || lost != 1 {
		t.Fatalf("won %d lost %d, want 2 and 1", won, lost)
	}
	_, tot := do(t, "GET", e.control+"/v1/drops/lot", token, nil, "")
	if tot["state"] != "open" || tot["lottery"].(map[string]any)["seed"] == nil {
		t.Fatalf("after the draw: %v", tot)
	}
}
