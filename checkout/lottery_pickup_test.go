package checkout

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLotteryWonPickupIsAPickupOrder: an entry that asked for pickup wins a
// pickup order (on the control side's pickup list, and answered so to the
// buyer's retry through either edge, which is what shows its pickup code);
// an entry that did not ask wins an order shipping.
func TestLotteryWonPickupIsAPickupOrder(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			t0 := time.Now().UTC().Truncate(time.Millisecond)
			clock := &testClock{t: t0}
			h := &harness{store: s, ctl: newControlAt(t, s, clock)}
			run(t, h.ctl.Run)
			e1 := h.edge(t, "e1", testConfig(), nil)
			e2 := h.edge(t, "e2", testConfig(), nil)
			d := lotteryDrop("lotpick", 2, 1, t0.Add(time.Second))
			if _, err := h.ctl.CreateDrop(ctx, d); err != nil {
				t.Fatal(err)
			}
			clock.set(t0.Add(time.Second))
			eventually(t, 10*time.Second, "the window to open", func() bool { return dropState(t, s, d.ID) == StateDrawing })
			req := func(buyer, fulfilment string) OrderRequest {
				return OrderRequest{Drop: d.ID, SKU: "tee", Qty: 1, Buyer: buyer, IdempotencyKey: "k-" + buyer, Fulfilment: fulfilment}
			}
			for _, r := range []OrderRequest{req("picker", FulfilmentPickup), req("shipper", "")} {
				var ee *EntryError
				if _, err := e1.PlaceOrder(ctx, r); !errors.As(err, &ee) || ee.Entry.Fulfilment != r.Fulfilment {
					t.Fatalf("%s in the window: %v (entry %+v), want in line with fulfilment %q", r.Buyer, err, ee, r.Fulfilment)
				}
			}
			clock.set(t0.Add(3 * time.Second))
			eventually(t, 20*time.Second, "the draw", func() bool { return dropState(t, s, d.ID) == StateOpen })

			for _, e := range []*Edge{e1, e2} {
				o, err := e.PlaceOrder(ctx, req("picker", FulfilmentPickup))
				if err != nil || o.Fulfilment != FulfilmentPickup || o.Edge != LotteryEdge {
					t.Fatalf("the pickup winner's retry: %+v %v, want its won order for pickup", o, err)
				}
				o, err = e.PlaceOrder(ctx, req("shipper", ""))
				if err != nil || o.Fulfilment != "" {
					t.Fatalf("the shipping winner's retry: %+v %v", o, err)
				}
			}
			list, err := h.ctl.PickupOrders(ctx, clock.now().Add(time.Hour))
			if err != nil || len(list) != 1 || list[0].Buyer != "picker" || list[0].Fulfilment != FulfilmentPickup {
				t.Fatalf("pickup orders: %+v %v, want the pickup winner's", list, err)
			}
		})
	}
}
