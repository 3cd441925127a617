package checkout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func memberDrop(id string, opensAt time.Time) Drop {
	d := testDrop(id, 10, 2)
	d.SKUs[0].MemberPriceCents = 2000
	d.OpensAt = opensAt
	d.Members = &Members{EarlyMinutes: 5}
	return d
}

func memberBuy(e *Edge, drop, buyer, key string, qty int, member bool) (Order, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := e.PlaceOrder(context.Background(), OrderRequest{Drop: drop, SKU: "tee", Qty: qty, Buyer: buyer, IdempotencyKey: key, Member: member})
		if c := ClassOf(err); (c != ClassHeld && c != ClassUnavailable) || time.Now().After(deadline) {
			return o, err
		}
		time.Sleep(e.RetryHint())
	}
}

// TestMemberEarlyAccess: the schedule opens a members drop early_minutes
// before opens_at; until opens_at the edge refuses non-members
// (members_only, naming opens_at) and sells to members at the member price
// under the same limits; at opens_at everyone buys, members still at the
// member price.
func TestMemberEarlyAccess(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Now().UTC().Truncate(time.Second)
			clock := &testClock{t: t0}
			h := &harness{store: s, ctl: newControlAt(t, s, clock)}
			run(t, h.ctl.Run)
			reg := prometheus.NewRegistry()
			e, err := NewEdge(EdgeParams{Logger: testLogger(t), Registerer: reg, Config: testConfig(),
				DataDir: t.TempDir(), EdgeID: "e1", Store: s, Now: clock.now})
			if err != nil {
				t.Fatal(err)
			}
			run(t, e.Run)
			<-e.Ready()
			opensAt := t0.Add(10 * time.Minute)
			d := memberDrop("mem1", opensAt)
			if _, err := h.ctl.CreateDrop(ctx, d); err != nil {
				t.Fatal(err)
			}
			if _, err := memberBuy(e, d.ID, "m1", "m1-a", 1, true); !errors.Is(err, ErrNotOpen) {
				t.Fatalf("member before the early opening: got %v, want not open", err)
			}
			clock.set(opensAt.Add(-5 * time.Minute))
			eventually(t, 10*time.Second, "the early opening", func() bool { return dropState(t, s, d.ID) == StateOpen })
			tot, err := h.ctl.Totals(ctx, d.ID)
			if err != nil || !tot.MembersUntil.Equal(opensAt) {
				t.Fatalf("totals members_until %v (%v), want %v", tot.MembersUntil, err, opensAt)
			}

			_, err = memberBuy(e, d.ID, "n1", "n1-a", 1, false)
			var mo *MembersOnlyError
			if !errors.As(err, &mo) || !mo.OpensAt.Equal(opensAt) || ClassOf(err) != ClassNotOpen {
				t.Fatalf("non-member during early access: got %v, want members only until %v", err, opensAt)
			}
			o, err := memberBuy(e, d.ID, "m1", "m1-a", 2, true)
			if err != nil {
				t.Fatalf("member during early access: %v", err)
			}
			if o.PriceCents != 2000 || o.TotalCents != 4000 {
				t.Fatalf("member order %+v, want 2 at the member price 2000", o)
			}
			if again, err := memberBuy(e, d.ID, "m1", "m1-a", 2, true); err != nil || again.ID != o.ID || again.TotalCents != 4000 {
				t.Fatalf("retry of the member's key: %+v %v, want the same order", again, err)
			}
			if _, err := memberBuy(e, d.ID, "m1", "m1-b", 1, true); !errors.Is(err, ErrLimit) {
				t.Fatalf("member over max_per_buyer: got %v, want limit", err)
			}

			clock.set(opensAt)
			o, err = memberBuy(e, d.ID, "n1", "n1-a", 1, false)
			if err != nil || o.PriceCents != 2500 || o.TotalCents != 2500 {
				t.Fatalf("non-member at opens_at: %+v %v, want 1 at 2500", o, err)
			}
			o, err = memberBuy(e, d.ID, "m2", "m2-a", 1, true)
			if err != nil || o.PriceCents != 2000 {
				t.Fatalf("member after opens_at: %+v %v, want the member price", o, err)
			}
			tt := settled(t, s, d.ID, 4)
			if tt.RevenueCents != 4000+2500+2000 {
				t.Fatalf("revenue %d, want %d (the prices paid)", tt.RevenueCents, 4000+2500+2000)
			}
			mv := e.memberOrders
			if got := testutil.ToFloat64(mv.WithLabelValues("members_only")); got != 1 {
				t.Fatalf("member_orders{members_only} = %v, want 1", got)
			}
			if got := testutil.ToFloat64(mv.WithLabelValues("accepted")); got < 3 {
				t.Fatalf("member_orders{accepted} = %v, want at least 3", got)
			}
		})
	}
}

func TestMemberDropValidate(t *testing.T) {
	at := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		mut  func(*Drop)
		want string // "" = valid
	}{
		{"early access", func(d *Drop) { d.OpensAt, d.Members = at, &Members{EarlyMinutes: 10} }, ""},
		{"member price alone", func(d *Drop) { d.SKUs[0].MemberPriceCents = 1 }, ""},
		{"no opens_at", func(d *Drop) { d.Members = &Members{EarlyMinutes: 10} }, "needs opens_at"},
		{"with lottery", func(d *Drop) { d.OpensAt, d.Lottery, d.Members = at, &Lottery{}, &Members{EarlyMinutes: 10} }, "cannot be combined"},
		{"zero minutes", func(d *Drop) { d.OpensAt, d.Members = at, &Members{} }, "members.early_minutes must be"},
		{"too many minutes", func(d *Drop) { d.OpensAt, d.Members = at, &Members{EarlyMinutes: MaxEarlyMinutes + 1} }, "members.early_minutes must be"},
		{"member price = price", func(d *Drop) { d.SKUs[0].MemberPriceCents = d.SKUs[0].PriceCents }, "member_price_cents must be"},
		{"negative member price", func(d *Drop) { d.SKUs[0].MemberPriceCents = -1 }, "member_price_cents must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := testDrop("d", 1, 0)
			tc.mut(&d)
			err := d.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want valid", err)
			case tc.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want invalid: %q", err, tc.want)
			}
		})
	}
}
