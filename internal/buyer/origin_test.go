package buyer_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyermail"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
)

// TestConsentCountsByOrigin: Counts splits the consents of the span by the
// channel and region of the sign-in that first gave each, on both stores.
// By hand, in [t0, t0+1h): ann qr/eu, bob social/us, cat direct (no
// channel)/eu consent; dan signs in without consent; eve consents from
// social/us and withdraws; fay consents from qr/us before the span; gus
// consents from qr/eu, withdraws, and consents again from social/us (his
// first origin stays): 4 consents, qr 2 social 1 direct 1, eu 3 us 1.
func TestConsentCountsByOrigin(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	qrEU, socialUS := buyer.Origin{Channel: "qr", Region: "eu"}, buyer.Origin{Channel: "social", Region: "us"}
	for name, s := range consentStores(t) {
		t.Run(name, func(t *testing.T) {
			for _, b := range []struct {
				email     string
				marketing bool
				from      buyer.Origin
				at        time.Time
			}{
				{"ann@example.com", true, qrEU, t0.Add(time.Minute)},
				{"bob@example.com", true, socialUS, t0.Add(2 * time.Minute)},
				{"cat@example.com", true, buyer.Origin{Region: "eu"}, t0.Add(3 * time.Minute)},
				{"dan@example.com", false, qrEU, t0.Add(4 * time.Minute)},
				{"eve@example.com", true, socialUS, t0.Add(5 * time.Minute)},
				{"fay@example.com", true, buyer.Origin{Channel: "qr", Region: "us"}, t0.Add(-time.Minute)},
				{"gus@example.com", true, qrEU, t0.Add(6 * time.Minute)},
			} {
				r, err := s.SignedInFrom(ctx, b.email, "e-"+b.email[:3]+"aaaaaaaaaaaaaaaaaaaaaaa", b.marketing, b.from, b.at)
				if err != nil {
					t.Fatal(err)
				}
				want := b.from
				if want.Channel == "" {
					want.Channel = "direct"
				}
				if !b.marketing {
					want = buyer.Origin{}
				}
				if r.Origin != want {
					t.Fatalf("%s: origin %+v, want %+v", b.email, r.Origin, want)
				}
			}
			for _, id := range []string{"e-eveaaaaaaaaaaaaaaaaaaaaaaa", "e-gusaaaaaaaaaaaaaaaaaaaaaaa"} {
				if _, did, err := s.WithdrawConsent(ctx, id, t0.Add(10*time.Minute)); err != nil || !did {
					t.Fatalf("withdraw %s: %v %v", id, did, err)
				}
			}
			r, err := s.SignedInFrom(ctx, "gus@example.com", "e-xxxxxxxxxxxxxxxxxxxxxxxxxx", true, socialUS, t0.Add(20*time.Minute))
			if err != nil || !r.Marketing || r.Origin != qrEU {
				t.Fatalf("gus again: %+v %v, want consent with his first origin", r, err)
			}
			c, err := s.Counts(ctx, t0, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if c.MarketingConsents != 4 || c.NewEmails != 6 || c.Withdrawn != 1 {
				t.Fatalf("counts %+v, want 4 consents, 6 new emails, 1 withdrawn", c)
			}
			if want := map[string]int{"qr": 2, "social": 1, "direct": 1}; !maps.Equal(c.ConsentsByChannel, want) {
				t.Fatalf("by channel %v, want %v", c.ConsentsByChannel, want)
			}
			if want := map[string]int{"eu": 3, "us": 1}; !maps.Equal(c.ConsentsByRegion, want) {
				t.Fatalf("by region %v, want %v", c.ConsentsByRegion, want)
			}
			if c, err := s.Counts(ctx, t0.Add(2*time.Hour), t0.Add(3*time.Hour)); err != nil || c.MarketingConsents != 0 || c.ConsentsByChannel != nil {
				t.Fatalf("an empty span: %+v %v", c, err)
			}
		})
	}
}

// TestSignInRecordsOrigin: a code entered with a channel, at an edge of a
// region, records both on the consent; a channel that is no token is
// direct.
func TestSignInRecordsOrigin(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	for name, s := range consentStores(t) {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				email, region, channel string
				want                   buyer.Origin
			}{
				{name + "-a@example.com", "eu-west", "qr", buyer.Origin{Channel: "qr", Region: "eu-west"}},
				{name + "-b@example.com", "us-east", "<script>", buyer.Origin{Channel: "direct", Region: "us-east"}},
			} {
				in := regionEdge(t, s, mail, c.region)
				if _, err := in.SendCode(context.Background(), c.email, ip); err != nil {
					t.Fatal(err)
				}
				code, err := mail.Code(c.email, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				is, err := in.VerifyCode(context.Background(), buyer.VerifyRequest{Email: c.email, Code: code, Device: dev, IP: ip,
					Marketing: true, Channel: c.channel})
				if err != nil || is.Record.Origin != c.want {
					t.Fatalf("%s: %+v %v, want origin %+v", c.email, is.Record, err, c.want)
				}
			}
			cs, err := s.Counts(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
			if err != nil || cs.ConsentsByRegion["eu-west"] != 1 || cs.ConsentsByRegion["us-east"] != 1 || cs.ConsentsByChannel["qr"] != 1 || cs.ConsentsByChannel["direct"] != 1 {
				t.Fatalf("counts %+v %v", cs, err)
			}
		})
	}
}

// regionEdge is sign-in at an edge of region on store s.
func regionEdge(t *testing.T, s buyer.Store, mail *smtptest.Server, region string) *buyer.SignIn {
	t.Helper()
	cfg := buyer.Defaults()
	cfg.SessionSecrets = []string{secret}
	m, err := buyer.NewMetrics(newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := buyer.NewSessions(cfg.SessionSecrets, cfg.SessionTTL, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	mc := buyermail.Defaults()
	mc.Addr, mc.TLS = mail.Addr(), buyermail.None
	mailer, err := buyermail.New(mc, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := buyer.NewSignIn(buyer.Params{Config: cfg, Sessions: sess, Store: s, Mailer: mailer, Metrics: m, Region: region})
	if err != nil {
		t.Fatal(err)
	}
	return in
}
