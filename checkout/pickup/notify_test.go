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

// TestNotifierMailsThePickupCodeOnce: a pickup order's buyer gets one
// email with the code, however often the order is notified (retries, two
// edges); a guest gets none; an order shipping is not mailed.
func TestNotifierMailsThePickupCodeOnce(t *testing.T) {
	relay := smtptest.Start(t, smtptest.Options{})
	cfg := buyermail.Defaults()
	cfg.Addr, cfg.TLS = relay.Addr(), buyermail.None
	mailer, err := buyermail.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	bs := buyer.NewMemStore(nil)
	rec, err := bs.SignedIn(context.Background(), "ada@example.com", "b-ada", false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes := testCodes(t)
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			n, err := pickup.NewNotifier(pickup.NotifierParams{Codes: codes, Store: st, Mailer: mailer, Emails: bs, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = n.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			id := "d1.aaaaaaaaaaaaaaaaaaaaaaa" + map[string]string{"redis": "r", "memory": "m"}[name]
			o := checkout.Order{ID: id, Drop: "d1", SKU: "tee", Qty: 1, Buyer: rec.ID, Fulfilment: checkout.FulfilmentPickup}
			n.Notify(o)
			n.Notify(o) // a retry of the same order
			n.Notify(checkout.Order{ID: "d1.gggggggggggggggggggggggg" + name, Buyer: "guest-1", Fulfilment: checkout.FulfilmentPickup})
			n.Notify(checkout.Order{ID: "d1.ssssssssssssssssssssssss", Buyer: rec.ID}) // shipping
			deadline := time.Now().Add(10 * time.Second)
			total := func() float64 {
				return testutil.ToFloat64(n.Counter("sent")) + testutil.ToFloat64(n.Counter("already")) + testutil.ToFloat64(n.Counter("no_email"))
			}
			for total() < 3 {
				if time.Now().After(deadline) {
					t.Fatalf("notices done: %v, want 3", total())
				}
				time.Sleep(10 * time.Millisecond) // polling the counters the notifier's goroutine moves
			}
			if s, a, g := testutil.ToFloat64(n.Counter("sent")), testutil.ToFloat64(n.Counter("already")), testutil.ToFloat64(n.Counter("no_email")); s != 1 || a != 1 || g != 1 {
				t.Fatalf("sent %v already %v no_email %v, want 1 1 1", s, a, g)
			}
			want := pickup.Display(codes.Code(id))
			found := 0
			for _, m := range relay.Messages() {
				if strings.Contains(m.Data, "Your pickup code is "+want) {
					found++
					if len(m.To) != 1 || m.To[0] != "ada@example.com" {
						t.Errorf("mailed to %v", m.To)
					}
				}
			}
			if found != 1 {
				t.Fatalf("%d emails carry code %s, want 1", found, want)
			}
		})
	}
}
