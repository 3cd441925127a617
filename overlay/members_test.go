package overlay

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMemberCardFields: a product card of a members drop carries the
// member price and members_until_ms on the wire, and they survive a hop.
func TestMemberCardFields(t *testing.T) {
	o := Overlay{ID: "p1", Kind: KindProduct, Drop: "d1", SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR",
		StockLeft: 3, DropState: "open", MemberPriceCents: 1900, MembersUntilMS: 1_800_000_000_000}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"member_price_cents":1900,"members_until_ms":1800000000000}`) {
		t.Fatalf("wire %s lacks the member fields", b)
	}
	var back Overlay
	if err := json.Unmarshal(b, &back); err != nil || back != o || back.Validate() != nil {
		t.Fatalf("round trip %+v %v (valid: %v)", back, err, back.Validate())
	}
	plain := o
	plain.MemberPriceCents, plain.MembersUntilMS = 0, 0
	if b, _ := json.Marshal(plain); strings.Contains(string(b), "member") {
		t.Fatalf("a card without member terms says %s", b)
	}
}
