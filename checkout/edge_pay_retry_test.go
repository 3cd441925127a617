package checkout

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// flakyProvider is unavailable for its first fails authorizations (after
// charging, as a lost answer would be), then answers.
type flakyProvider struct {
	*TestProvider
	fails atomic.Int32
	calls atomic.Int32
}

func (p *flakyProvider) Authorize(ctx context.Context, req PaymentRequest) (string, error) {
	p.calls.Add(1)
	auth, err := p.TestProvider.Authorize(ctx, req)
	if err == nil && p.fails.Add(-1) >= 0 {
		return "", fmt.Errorf("answer lost: %w", ErrUnavailable)
	}
	return auth, err
}

func TestEdgePaymentAskedAgainWhileUnavailable(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	h.open(t, testDrop("flaky", 10, 0))
	pay := &flakyProvider{TestProvider: NewTestProvider(cfg.Payment)}
	pay.fails.Store(3)
	e := h.edge(t, "e1", cfg, pay)
	o, err := buy(e, "flaky", "dora", 1)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "order paid after the provider came back", func() bool {
		got, err := e.Order(context.Background(), o.ID)
		return err == nil && got.Status == StatusPaid
	})
	if n := pay.calls.Load(); n != 4 {
		t.Errorf("provider asked %d times, want 4 (3 unavailable, then paid)", n)
	}
}
