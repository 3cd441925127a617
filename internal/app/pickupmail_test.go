package app

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyermail"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
)

// TestPickupMailBadConfig: the edge and the demo refuse to start with bad
// pickup email retries, naming the key.
func TestPickupMailBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cmd, key, val, want string
	}{
		{"edge", "LIVEDROP_BUYER_PICKUP_MAIL_ATTEMPTS", "0", "buyer.pickup_mail.attempts"},
		{"edge", "LIVEDROP_BUYER_PICKUP_MAIL_RETRY_BASE", "0s", "buyer.pickup_mail.retry_base"},
		{"demo", "LIVEDROP_BUYER_PICKUP_MAIL_RETRY_MAX", "1s", "buyer.pickup_mail.retry_max"},
	} {
		t.Run(tc.cmd+"/"+tc.want, func(t *testing.T) {
			env := map[string]string{"LIVEDROP_NODE_SECRET": testNodeSecret, tc.key: tc.val}
			var out strings.Builder
			err := Main(context.Background(), []string{tc.cmd}, Env{Stdout: &out, Stderr: &out, Lookup: envOf(env)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestPickupNotifierUsesConfiguredRetries: the edge's notifier tries a
// pickup code email as often as buyer.pickup_mail says (3, not the
// default 5) before it gives up, against a relay that refuses every mail.
func TestPickupNotifierUsesConfiguredRetries(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	relay := smtptest.Start(t, smtptest.Options{RefuseFirst: 1000})
	bc := defaultBuyerConfig()
	bc.SMTP.Addr, bc.SMTP.TLS = relay.Addr(), buyermail.None
	bc.PickupMail.Attempts, bc.PickupMail.RetryBase, bc.PickupMail.RetryMax = 3, 20*time.Millisecond, 50*time.Millisecond
	if err := bc.Validate(); err != nil {
		t.Fatal(err)
	}
	store, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bs := buyer.NewMemStore(nil)
	rec, err := bs.SignedIn(ctx, "ada@example.com", "b-ada", false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n, err := newPickupNotifier(log, prometheus.NewRegistry(), bc, store, bs, []string{testNodeSecret})
	if err != nil || n == nil {
		t.Fatalf("notifier %v %v", n, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = n.Run(rctx); close(done) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the notifier did not stop")
		}
	}()
	n.Notify(checkout.Order{ID: "d1.aaaaaaaaaaaaaaaaaaaaaaaa", Drop: "d1", SKU: "tee", Qty: 1, Buyer: rec.ID, Fulfilment: checkout.FulfilmentPickup})
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(n.Counter("failed")) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not given up after 20 s: %d tries refused", relay.Refused())
		}
		time.Sleep(10 * time.Millisecond) // polling the counter the notifier's goroutine moves
	}
	if r, f := relay.Refused(), testutil.ToFloat64(n.Failures()); r != 3 || f != 3 {
		t.Fatalf("%d tries refused, failures_total %v; want 3 3 (buyer.pickup_mail.attempts)", r, f)
	}
}
