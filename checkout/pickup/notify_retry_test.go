package pickup_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyermail"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
)

// TestNotifierRetriesAFailedMail: a relay that refuses the first two mails
// (451) still gets the pickup code to the buyer, once, on the third try;
// each failed try is counted. A relay refusing every mail is given up
// after the bounded attempts, counted failed, and stopping the notifier
// ends its retries.
func TestNotifierRetriesAFailedMail(t *testing.T) {
	bs := buyer.NewMemStore(nil)
	rec, err := bs.SignedIn(context.Background(), "ada@example.com", "b-ada", false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes := testCodes(t)
	start := func(t *testing.T, st pickup.Store, refuse int) (*pickup.Notifier, *smtptest.Server, func()) {
		t.Helper()
		relay := smtptest.Start(t, smtptest.Options{RefuseFirst: refuse})
		cfg := buyermail.Defaults()
		cfg.Addr, cfg.TLS = relay.Addr(), buyermail.None
		mailer, err := buyermail.New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := pickup.NewNotifier(pickup.NotifierParams{Codes: codes, Store: st, Mailer: mailer, Emails: bs, Registerer: prometheus.NewRegistry(),
			MaxAttempts: 4, RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = n.Run(ctx); close(done) }()
		stop := func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the notifier did not stop")
			}
		}
		t.Cleanup(stop)
		return n, relay, stop
	}
	waitFor := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 20 s", what)
			}
			time.Sleep(10 * time.Millisecond) // polling the counters the notifier's goroutine moves
		}
	}
	for name, st := range stores(t) {
		t.Run(name+"/refused twice", func(t *testing.T) {
			n, relay, _ := start(t, st, 2)
			id := "d1.rrrrrrrrrrrrrrrrrrrrrrr" + name[:1]
			n.Notify(checkout.Order{ID: id, Drop: "d1", SKU: "tee", Qty: 1, Buyer: rec.ID, Fulfilment: checkout.FulfilmentPickup})
			waitFor(t, "the code mailed", func() bool { return testutil.ToFloat64(n.Counter("sent")) == 1 })
			if r, f, failed := relay.Refused(), testutil.ToFloat64(n.Failures()), testutil.ToFloat64(n.Counter("failed")); r != 2 || f != 2 || failed != 0 {
				t.Fatalf("refused %d, failures_total %v, failed %v; want 2 2 0", r, f, failed)
			}
			want := "Your pickup code is " + pickup.Display(codes.Code(id))
			found := 0
			for _, m := range relay.Messages() {
				if strings.Contains(m.Data, want) && len(m.To) == 1 && m.To[0] == "ada@example.com" {
					found++
				}
			}
			if found != 1 {
				t.Fatalf("%d emails carry the code, want 1", found)
			}
		})
		t.Run(name+"/refused always", func(t *testing.T) {
			n, relay, stop := start(t, st, 1000)
			id := "d1.fffffffffffffffffffffff" + name[:1]
			n.Notify(checkout.Order{ID: id, Drop: "d1", SKU: "tee", Qty: 1, Buyer: rec.ID, Fulfilment: checkout.FulfilmentPickup})
			waitFor(t, "the notice given up", func() bool { return testutil.ToFloat64(n.Counter("failed")) == 1 })
			if r, f := relay.Refused(), testutil.ToFloat64(n.Failures()); r != 4 || f != 4 || len(relay.Messages()) != 0 {
				t.Fatalf("refused %d, failures_total %v, %d mails; want 4 tries, none delivered", r, f, len(relay.Messages()))
			}
			// A notice waiting for its retry when the notifier stops.
			n.Notify(checkout.Order{ID: id + "x", Drop: "d1", SKU: "tee", Qty: 1, Buyer: rec.ID, Fulfilment: checkout.FulfilmentPickup})
			waitFor(t, "the second notice's first try", func() bool { return testutil.ToFloat64(n.Failures()) == 5 })
			stop()
		})
	}
}
