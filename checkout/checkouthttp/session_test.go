package checkouthttp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
)

// TestOrdersNeedASession: no session, a forged one, an expired one, one
// signed with another secret: 401 with a clear JSON error, and nothing sold.
func TestOrdersNeedASession(t *testing.T) {
	e := start(t, nil)
	do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON)
	do(t, "POST", e.control+"/v1/drops/d1/open", token, nil, "")
	good := e.buyers.Token("ann")
	parts := strings.Split(good, ".")
	forgedClaims := strings.Join([]string{parts[0], strings.TrimRight(parts[1], "A") + "B", parts[2]}, ".")
	other := buyertest.New(t, "another-session-secret-0123456789").Token("ann")
	past, err := buyer.NewSessions([]string{buyertest.Secret}, time.Minute, func() time.Time { return time.Now().Add(-time.Hour) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := past.Mint(buyer.NewGuestID(), "device-0123", buyer.KindGuest)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, tok, code, words string }{
		{"none", "", "session_required", "sign in first"},
		{"garbage", "not-a-token", "session_invalid", "malformed"},
		{"tampered", forgedClaims, "session_invalid", "session refused"},
		{"bad signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), "session_invalid", "bad signature"},
		{"other secret", other, "session_invalid", "not signed with a key this edge knows"},
		{"expired", expired, "session_invalid", "expired"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, "POST", e.edge+"/v1/drops/d1/orders", tc.tok, map[string]string{"Idempotency-Key": fmt.Sprint("k", i)},
				`{"sku":"tee","qty":1,"buyer":"ann"}`)
			if code != 401 || body["code"] != tc.code || !strings.Contains(fmt.Sprint(body["error"]), tc.words) {
				t.Fatalf("%d %v, want 401 %s saying %q", code, body, tc.code, tc.words)
			}
			if code, body := do(t, "GET", e.edge+"/v1/me/orders", tc.tok, nil, ""); code != 401 {
				t.Fatalf("my orders: %d %v, want 401", code, body)
			}
		})
	}
	tot, err := e.store.Totals(context.Background(), "d1")
	if err != nil {
		t.Fatal(err)
	}
	if s := tot.SKUs[0]; s.Sold != 0 || s.Orders != 0 {
		t.Fatalf("refused sessions sold: %+v", s)
	}
}

// TestMadeUpBuyerNamesAreOneBuyer: one session, six made-up buyer names
// in the bodies: every order is the session's buyer's, and the drop's
// max_per_buyer (2) holds for all six.
func TestMadeUpBuyerNamesAreOneBuyer(t *testing.T) {
	e := start(t, nil)
	do(t, "POST", e.control+"/v1/drops", token, nil, `{"id":"d1","stream":"cam1","skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":50,"max_per_buyer":2}]}`)
	do(t, "POST", e.control+"/v1/drops/d1/open", token, nil, "")
	tok, me := e.buyers.Token("scalper"), e.buyers.ID("scalper")
	got := map[float64]int{}
	for i, name := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		code, body := do(t, "POST", e.edge+"/v1/drops/d1/orders", tok, map[string]string{"Idempotency-Key": fmt.Sprint("k", i)},
			fmt.Sprintf(`{"sku":"tee","qty":1,"buyer":%q}`, name))
		got[float64(code)]++
		if code == 201 {
			if body["buyer"] != me {
				t.Fatalf("order for %q booked to %v, want the session's buyer %s", name, body["buyer"], me)
			}
		}
	}
	if got[201] != 2 || got[422] != 4 {
		t.Fatalf("statuses %v, want 2x201 then 4x422 (one buyer, max 2)", got)
	}
	// The buyer sees their own two orders (once shipped to the store, for
	// the scan); another buyer sees none of them.
	var list []any
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, mine := do(t, "GET", e.edge+"/v1/me/orders", tok, nil, "")
		list, _ = mine["orders"].([]any)
		if code == 200 && mine["buyer"] == me && len(list) == 2 {
			break
		}
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("my orders: %d %v, want my 2", code, mine)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, o := range list {
		o := o.(map[string]any)
		if o["buyer"] != me || len(fmt.Sprint(o["token"])) < 32 {
			t.Fatalf("listed order %v", o)
		}
		if c, _ := do(t, "GET", e.edge+"/v1/orders/"+o["id"].(string)+"?token="+o["token"].(string), "", nil, ""); c != 200 {
			t.Fatalf("listed order's token does not read it: %d", c)
		}
	}
	code, theirs := do(t, "GET", e.edge+"/v1/me/orders", e.buyers.Token("alice"), nil, "")
	if l, _ := theirs["orders"].([]any); code != 200 || len(l) != 0 || theirs["buyer"] == me {
		t.Fatalf("another buyer's orders: %d %v, want none", code, theirs)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		tot, err := e.store.Totals(context.Background(), "d1")
		if err == nil && tot.SKUs[0].Sold == 2 && tot.SKUs[0].Orders == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("totals %+v, want 2 sold in 2 orders", tot)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
