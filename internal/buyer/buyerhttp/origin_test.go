package buyerhttp

import (
	"context"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyermail"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
)

// TestSignInChannelRoute: the channel in POST /v1/signin/email's body and
// the edge's region are the consent's origin in the buyer store's counts.
func TestSignInChannelRoute(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	mc := buyermail.Defaults()
	mc.Addr, mc.TLS = mail.Addr(), buyermail.None
	mailer, err := buyermail.New(mc, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := buyer.NewSessions([]string{secret}, time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := buyer.Defaults()
	cfg.SessionSecrets = []string{secret}
	store := buyer.NewMemStore(nil)
	s, err := buyer.NewSignIn(buyer.Params{Config: cfg, Sessions: sess, Store: store, Mailer: mailer, Region: "eu-west"})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, New(s, nil))
	post(t, base+"/v1/signin/code", `{"email":"ann@example.com"}`)
	sent, err := mail.Code("ann@example.com", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	code, _, a := post(t, base+"/v1/signin/email", `{"email":"ann@example.com","code":"`+sent+`","device":"d-0123456789abcdef","marketing":true,"channel":"social"}`)
	if code != 200 {
		t.Fatalf("sign-in: %d %v", code, a)
	}
	c, err := store.Counts(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || c.MarketingConsents != 1 || c.ConsentsByChannel["social"] != 1 || c.ConsentsByRegion["eu-west"] != 1 {
		t.Fatalf("counts %+v %v, want one consent of social, eu-west", c, err)
	}
}
