package checkout

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// failingPay is a provider whose refunds fail until told otherwise.
type failingPay struct {
	*TestProvider
	fail bool
}

func (p *failingPay) Refund(ctx context.Context, id string) error {
	if p.fail {
		return errors.New("provider down")
	}
	return p.TestProvider.Refund(ctx, id)
}

func newOrdersControl(t *testing.T, s Store, pay PaymentProvider) *Control {
	t.Helper()
	ctl, err := NewControl(ControlParams{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Config: testConfig(), Store: s, Payment: pay})
	if err != nil {
		t.Fatal(err)
	}
	return ctl
}

func TestControlRefund(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			pay := &failingPay{TestProvider: NewTestProvider(PaymentConfig{})}
			ctl := newOrdersControl(t, s, pay)
			if err := s.CreateDrop(ctx, testDrop("d1", 10, 1)); err != nil {
				t.Fatal(err)
			}
			if err := s.SetState(ctx, "d1", StateOpen); err != nil {
				t.Fatal(err)
			}
			sold := sellN(t, s, "d1", 4)
			if _, err := s.ConfirmPayment(ctx, sold[0].ID); err != nil {
				t.Fatal(err)
			}
			// The provider fails: nothing changes, and a retry goes through.
			pay.fail = true
			if _, err := ctl.RefundOrder(ctx, sold[0].ID, true); ClassOf(err) != ClassUnavailable {
				t.Fatalf("refund with the provider down: %v, want unavailable", err)
			}
			if o, _ := s.Order(ctx, sold[0].ID); o.Status != StatusPaid {
				t.Fatalf("after a failed refund the order is %s, want paid", o.Status)
			}
			pay.fail = false
			o, err := ctl.RefundOrder(ctx, sold[0].ID, true)
			if err != nil || o.Status != StatusRefunded || !pay.Refunded(sold[0].ID) {
				t.Fatalf("refund: %+v %v (provider refunded: %v)", o, err, pay.Refunded(sold[0].ID))
			}
			if o, err := ctl.RefundOrder(ctx, sold[0].ID, true); err != nil || o.Status != StatusRefunded {
				t.Fatalf("refund again: %+v %v", o, err)
			}
			if tt := mustTotals(t, s, "d1"); tt.Free != 7 || tt.Sold != 3 {
				t.Fatalf("totals after one refund: %+v", tt)
			}
			// A pending order is cancelled, without the provider.
			if o, err := ctl.RefundOrder(ctx, sold[1].ID, false); err != nil || o.Status != StatusCancelled || pay.Refunded(sold[1].ID) {
				t.Fatalf("cancel pending: %+v %v", o, err)
			}
			if _, err := ctl.RefundOrder(ctx, "nope", true); ClassOf(err) != ClassNotFound {
				t.Fatalf("refund of a bad id: %v", err)
			}
			// The whole drop: what is left (one paid, one pending) goes back.
			if _, err := s.ConfirmPayment(ctx, sold[2].ID); err != nil {
				t.Fatal(err)
			}
			r, err := ctl.RefundDrop(ctx, "d1", true)
			if err != nil || r.Refunded != 1 || r.Cancelled != 1 || r.Already != 2 {
				t.Fatalf("refund the drop: %+v %v", r, err)
			}
			tt := mustTotals(t, s, "d1")
			if tt.Sold != 0 || tt.Stock != 9 || tt.Free != 9 || tt.Refunded != 2 {
				t.Fatalf("totals after the drop's refund: %+v", tt)
			}
			if got := testutil.ToFloat64(ctl.refunds.WithLabelValues("refunded")); got != 2 {
				t.Fatalf("refunds_total{result=refunded} = %v, want 2", got)
			}
			if got := testutil.ToFloat64(ctl.refunds.WithLabelValues("error")); got != 1 {
				t.Fatalf("refunds_total{result=error} = %v, want 1", got)
			}
		})
	}
}

func TestControlOrdersSearchAndWatch(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ctl := newOrdersControl(t, s, nil)
			if err := s.CreateDrop(ctx, testDrop("d1", 2000, 0)); err != nil {
				t.Fatal(err)
			}
			if err := s.SetState(ctx, "d1", StateOpen); err != nil {
				t.Fatal(err)
			}
			sold := sellN(t, s, "d1", 12)
			p, err := ctl.Orders(ctx, "d1", OrderQuery{Limit: 5})
			if err != nil || len(p.Orders) != 5 || p.Total != 12 || p.Next != 7 || p.Orders[0].ID != sold[11].ID {
				t.Fatalf("first page: %+v %v", p, err)
			}
			p, err = ctl.Orders(ctx, "d1", OrderQuery{Limit: 5, Before: 2})
			if err != nil || len(p.Orders) != 2 || p.Next != 0 || p.Orders[1].ID != sold[0].ID {
				t.Fatalf("last page: %+v %v", p, err)
			}
			p, err = ctl.Orders(ctx, "d1", OrderQuery{Search: "B1"})
			if err != nil || len(p.Orders) != 3 { // b1, b10, b11
				t.Fatalf("search b1: %+v %v", p, err)
			}
			if _, err := ctl.Orders(ctx, "bad id", OrderQuery{}); ClassOf(err) != ClassInvalid {
				t.Fatalf("bad drop id: %v", err)
			}

			w, err := ctl.WatchOrders(ctx, "d1", 10) // the client shows 10 of 12
			if err != nil {
				t.Fatal(err)
			}
			got, total, skipped, err := w.Poll(ctx)
			if err != nil || total != 12 || skipped != 0 || len(got) != 2 || got[0].ID != sold[10].ID || got[1].ID != sold[11].ID {
				t.Fatalf("first poll: %v total %d skipped %d %v", got, total, skipped, err)
			}
			if got, _, _, _ := w.Poll(ctx); len(got) != 0 {
				t.Fatalf("nothing new: %v", got)
			}
			// A new order and a status change arrive together.
			if _, err := s.ConfirmPayment(ctx, sold[3].ID); err != nil {
				t.Fatal(err)
			}
			more := sellN2(t, s, "d1", "late", 1)
			got, total, _, err = w.Poll(ctx)
			if err != nil || total != 13 || len(got) != 2 {
				t.Fatalf("poll after a sale and a payment: %v %d %v", got, total, err)
			}
			if got[0].ID != sold[3].ID || got[0].Status != StatusPaid || got[1].ID != more[0].ID {
				t.Fatalf("poll: %+v", got)
			}
			// A burst past the window comes whole, oldest first.
			burst := sellN2(t, s, "d1", "burst", 150)
			got, total, skipped, err = w.Poll(ctx)
			if err != nil || total != 163 || skipped != 0 || len(got) != 150 || got[0].ID != burst[0].ID || got[149].ID != burst[149].ID {
				t.Fatalf("burst: %d orders, total %d, skipped %d, %v", len(got), total, skipped, err)
			}
		})
	}
}

// sellN2 sells n direct orders of one unit to buyers prefix0...
func sellN2(t *testing.T, s Store, drop, prefix string, n int) []Order {
	t.Helper()
	items := make([]ShipItem, n)
	for i := range n {
		b := fmt.Sprintf("%s%d", prefix, i)
		items[i] = ShipItem{Order: Order{ID: OrderID(drop, b, "k"), Drop: drop, SKU: "tee", Qty: 1, Buyer: b, PriceCents: 2500,
			Currency: "EUR", TotalCents: 2500, Status: StatusPending, Edge: "e1"}}
	}
	var out []Order
	for _, it := range items {
		r, err := s.SellDirect(context.Background(), it)
		if err != nil || r.Outcome != OutcomeCreated {
			t.Fatalf("sell: %+v %v", r, err)
		}
		out = append(out, r.Order)
	}
	return out
}
