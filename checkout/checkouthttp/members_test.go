package checkouthttp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer"
)

// TestMemberEarlyAccessHTTP: a drop whose members' early access has begun
// (opens_at a minute ahead, early_minutes 5): a signed-in non-member gets
// 403 members_only naming opens_at, and a body saying "member":true is
// refused (400);
// a member's session buys at the member price; the drop's view carries
// members_until.
func TestMemberEarlyAccessHTTP(t *testing.T) {
	e := start(t, nil)
	opensAt := time.Now().UTC().Add(time.Minute).Truncate(time.Second)
	drop := fmt.Sprintf(`{"id":"d1","stream":"cam1","opens_at":%q,"members":{"early_minutes":5},
		"skus":[{"sku":"tee","name":"Tee","price_cents":2500,"member_price_cents":1900,"currency":"EUR","stock":20,"max_per_buyer":2}]}`,
		opensAt.Format(time.RFC3339))
	if code, body := do(t, "POST", e.control+"/v1/drops", token, nil, drop); code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, v := do(t, "GET", e.control+"/v1/drops/d1", token, nil, "")
		if code == 200 && v["state"] == "open" {
			if v["members_until"] != opensAt.Format(time.RFC3339) {
				t.Fatalf("drop view members_until %v, want %s", v["members_until"], opensAt.Format(time.RFC3339))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drop not opened early for members: %d %v", code, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mint := func(id string, member bool) string {
		tok, _, err := e.buyers.Sessions().MintMember(id, "device-"+id[2:10], buyer.KindEmail, member)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	member := mint("e-"+strings.Repeat("a", 26), true)
	plain := mint("e-"+strings.Repeat("b", 26), false)
	code, body := do(t, "POST", e.edge+"/v1/drops/d1/orders", plain, map[string]string{"Idempotency-Key": "n1"}, `{"sku":"tee","qty":1}`)
	if code != 403 || body["code"] != "members_only" || body["opens_at"] != opensAt.Format(time.RFC3339) ||
		!strings.Contains(fmt.Sprint(body["error"]), "members only until") {
		t.Fatalf("non-member: %d %v, want 403 members_only with opens_at", code, body)
	}
	// The member flag comes from the signed session only: a body claiming
	// it is refused as malformed, and sells nothing.
	code, body = do(t, "POST", e.edge+"/v1/drops/d1/orders", plain, map[string]string{"Idempotency-Key": "n2"}, `{"sku":"tee","qty":1,"member":true}`)
	if code != 400 || !strings.Contains(fmt.Sprint(body["error"]), `unknown field "member"`) {
		t.Fatalf("non-member claiming member in the body: %d %v, want 400 unknown field", code, body)
	}
	code, body = do(t, "POST", e.edge+"/v1/drops/d1/orders", member, map[string]string{"Idempotency-Key": "m1"}, `{"sku":"tee","qty":2}`)
	if code != 201 || body["price_cents"] != float64(1900) || body["total_cents"] != float64(3800) {
		t.Fatalf("member: %d %v, want 201 at 1900 a unit", code, body)
	}
	if code, body := do(t, "POST", e.edge+"/v1/drops/d1/orders", member, map[string]string{"Idempotency-Key": "m2"}, `{"sku":"tee","qty":1}`); code != 422 {
		t.Fatalf("member over the limit: %d %v, want 422", code, body)
	}
}

// TestMemberDropRefusedHTTP: early access without opens_at or with a
// lottery, and a member price not below the price, are refused at
// POST /v1/drops with the reason.
func TestMemberDropRefusedHTTP(t *testing.T) {
	e := start(t, nil)
	at := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	cases := []struct{ name, body, words string }{
		{"no opens_at", `{"id":"d1","stream":"cam1","members":{"early_minutes":5},"skus":[{"sku":"tee","price_cents":2500,"currency":"EUR","stock":1}]}`, "needs opens_at"},
		{"lottery", `{"id":"d1","stream":"cam1","opens_at":"` + at + `","lottery":{},"members":{"early_minutes":5},"skus":[{"sku":"tee","price_cents":2500,"currency":"EUR","stock":1}]}`, "cannot be combined"},
		{"member price", `{"id":"d1","stream":"cam1","skus":[{"sku":"tee","price_cents":2500,"member_price_cents":2500,"currency":"EUR","stock":1}]}`, "member_price_cents must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, "POST", e.control+"/v1/drops", token, nil, tc.body)
			if code != 400 || !strings.Contains(fmt.Sprint(body["error"]), tc.words) {
				t.Fatalf("%d %v, want 400 saying %q", code, body, tc.words)
			}
		})
	}
}
