package checkout

import (
	"context"
	"time"
)

// authorizeAttempts bounds how often an order's payment is asked again
// while the provider says it is unavailable.
const authorizeAttempts = 50

// authorize asks the provider to authorize req, again (with backoff) while
// it answers ErrUnavailable, as a wallet on a restarting Redis does: calls
// are idempotent by order id, so asking again never charges twice, and an
// answer lost after the charge is found by the next ask instead of
// leaving a charged order to expire unpaid.
func (e *Edge) authorize(ctx context.Context, req PaymentRequest) (string, error) {
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		auth, err := e.pay.Authorize(ctx, req)
		if err == nil || ClassOf(err) != ClassUnavailable || attempt == authorizeAttempts {
			return auth, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", err
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}
