package checkout

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRSVPHolderBuysDuringMemberEarlyAccess: during member early access a
// buyer who is not a member but holds an RSVP token buys the token's
// reserved unit, at the normal price; without a token, or with a forged
// one, they are refused members only; a used token buys nothing more; a
// member buys from the open pool at the member price, which the RSVP
// reservation did not touch.
func TestRSVPHolderBuysDuringMemberEarlyAccess(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := rsvpHarness(t, s, time.Now)
			e := rsvpEdge(t, h, "e1", time.Now)
			opensAt := time.Now().UTC().Add(10 * time.Minute).Truncate(time.Second)
			d := testDrop("early"+name[:1], 10, 2)
			d.SKUs[0].MemberPriceCents = 2000
			d.OpensAt = opensAt
			d.Members = &Members{EarlyMinutes: 15} // open to members since 5 minutes ago
			if _, err := h.ctl.CreateDrop(ctx, d); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the early opening", func() bool { return dropState(t, s, d.ID) == StateOpen })
			b, err := h.ctl.IssueRSVPs(ctx, d.ID, "tee", 2, time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			tok := b.Tokens[0].Token
			place := func(buyer, key, rsvp string, member bool) (Order, error) {
				return e.PlaceOrder(ctx, OrderRequest{Drop: d.ID, SKU: "tee", Qty: 1, Buyer: buyer, IdempotencyKey: key, RSVP: rsvp, Member: member})
			}
			var mo *MembersOnlyError
			if _, err := place("guest", "g-1", "", false); !errors.As(err, &mo) || !mo.OpensAt.Equal(opensAt) {
				t.Fatalf("a non-member without a token: %v, want members only until %v", err, opensAt)
			}
			forged := tok[:len(tok)-2] + "xx"
			if _, err := place("guest", "g-2", forged, false); !errors.As(err, &mo) {
				t.Fatalf("a non-member with a forged token: %v, want members only", err)
			}
			o, err := place("guest", "g-3", tok, false)
			if err != nil {
				t.Fatalf("the token's holder during early access: %v", err)
			}
			if o.RSVP != b.Tokens[0].ID || o.PriceCents != 2500 || o.TotalCents != 2500 {
				t.Fatalf("holder's order %+v, want the token's unit at the normal price 2500", o)
			}
			if again, err := place("guest", "g-3", tok, false); err != nil || again.ID != o.ID {
				t.Fatalf("the holder's retry: %+v %v, want the same order", again, err)
			}
			if _, err := place("other", "o-1", tok, false); !errors.Is(err, ErrRSVPUsed) {
				t.Fatalf("the used token again, by someone else: %v, want used", err)
			}
			m, err := place("member", "m-1", "", true)
			if err != nil || m.PriceCents != 2000 {
				t.Fatalf("a member during early access: %+v %v, want the member price", m, err)
			}
			tt := settled(t, s, d.ID, 2)
			if tt.Reserved != 1 || tt.Free+tt.HeldAtEdges != 7 {
				t.Fatalf("totals %+v: the holder's unit came from the reserved bucket (1 left), the member's from the open 8 (7 left)", tt)
			}
			if n := testutil.ToFloat64(e.rsvp.early); n != 2 {
				t.Fatalf("rsvp early access counted %v, want 2 (the holder and the used token; the retry is answered from the edge's book)", n)
			}
		})
	}
}
