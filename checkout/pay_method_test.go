package checkout

import (
	"context"
	"sync"
	"testing"
	"time"
)

// methodSpy records the payment method of each authorization.
type methodSpy struct {
	*TestProvider
	mu      sync.Mutex
	methods map[string]string
}

func (p *methodSpy) Authorize(ctx context.Context, req PaymentRequest) (string, error) {
	p.mu.Lock()
	p.methods[req.OrderID] = req.Method
	p.mu.Unlock()
	return p.TestProvider.Authorize(ctx, req)
}

func (p *methodSpy) method(id string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.methods[id]
	return m, ok
}

// TestPayMethodReachesTheProvider: an order asked with pay=wallet keeps it
// (in the store too), and its payment is asked with that method; a card
// order with none; any other method is refused and orders nothing.
func TestPayMethodReachesTheProvider(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.open(t, testDrop("paym", 10, 0))
	spy := &methodSpy{TestProvider: NewTestProvider(cfg.Payment), methods: map[string]string{}}
	e := h.edge(t, "e1", cfg, spy)
	ctx := context.Background()
	w, err := e.PlaceOrder(ctx, OrderRequest{Drop: "paym", SKU: "tee", Qty: 1, Buyer: "wanda", IdempotencyKey: "k1", Pay: PayWallet})
	if err != nil || w.Pay != PayWallet {
		t.Fatalf("wallet order: %+v %v", w, err)
	}
	c, err := e.PlaceOrder(ctx, OrderRequest{Drop: "paym", SKU: "tee", Qty: 1, Buyer: "carl", IdempotencyKey: "k1"})
	if err != nil || c.Pay != "" {
		t.Fatalf("card order: %+v %v", c, err)
	}
	if _, err := e.PlaceOrder(ctx, OrderRequest{Drop: "paym", SKU: "tee", Qty: 1, Buyer: "bea", IdempotencyKey: "k1", Pay: "bitcoin"}); ClassOf(err) != ClassInvalid {
		t.Errorf("pay=bitcoin: %v, want invalid", err)
	}
	eventually(t, 10*time.Second, "both orders paid", func() bool {
		a, err1 := h.store.Order(ctx, w.ID)
		b, err2 := h.store.Order(ctx, c.ID)
		return err1 == nil && err2 == nil && a.Status == StatusPaid && b.Status == StatusPaid && a.Pay == PayWallet
	})
	if m, _ := spy.method(w.ID); m != PayWallet {
		t.Errorf("wallet order paid with method %q", m)
	}
	if m, ok := spy.method(c.ID); !ok || m != "" {
		t.Errorf("card order paid with method %q (%v)", m, ok)
	}
	tt := mustTotals(t, h.store, "paym")
	if tt.Orders != 2 {
		t.Errorf("%d orders, want 2 (the refused one orders nothing)", tt.Orders)
	}
	// A lottery winner's order keeps its entry's method.
	if it := h.ctl.awardItem(testDrop("paym", 10, 0), &Entry{ID: "paym-x", SKU: "tee", Qty: 1, Buyer: "wanda", Pay: PayWallet}, time.Now()); it.Order.Pay != PayWallet {
		t.Errorf("lottery order pay %q", it.Order.Pay)
	}
}
