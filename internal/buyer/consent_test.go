package buyer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
	"github.com/livedrop/livedrop/internal/redistest"
)

// consentStores are both buyer stores: in memory, and on a real Redis.
func consentStores(t *testing.T) map[string]buyer.Store {
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return map[string]buyer.Store{"mem": buyer.NewMemStore(nil), "redis": buyer.NewRedisStore(rdb)}
}

// TestWithdrawConsentInStores: a withdrawn consent is off in the record,
// leaves the consent count and enters the withdrawn count; withdrawing
// again changes nothing; a sign-in that ticks marketing gives it again;
// an unknown buyer is not found.
func TestWithdrawConsentInStores(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	for name, s := range consentStores(t) {
		t.Run(name, func(t *testing.T) {
			ann, err := s.SignedIn(ctx, "ann@example.com", "e-aaaaaaaaaaaaaaaaaaaaaaaaaa", true, t0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SignedIn(ctx, "bob@example.com", "e-bbbbbbbbbbbbbbbbbbbbbbbbbb", true, t0); err != nil {
				t.Fatal(err)
			}
			span := func() buyer.Counts {
				c, err := s.Counts(ctx, t0.Add(-time.Hour), t0.Add(2*time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			if c := span(); c.NewEmails != 2 || c.MarketingConsents != 2 || c.Withdrawn != 0 {
				t.Fatalf("before: %+v", c)
			}
			at := t0.Add(10 * time.Minute)
			r, did, err := s.WithdrawConsent(ctx, ann.ID, at)
			if err != nil || !did || r.Marketing || !r.WithdrawnAt.Equal(at) || r.ID != ann.ID || !r.MarketingAt.Equal(t0) {
				t.Fatalf("withdraw: %+v %v %v", r, did, err)
			}
			if c := span(); c.NewEmails != 2 || c.MarketingConsents != 1 || c.Withdrawn != 1 {
				t.Fatalf("after withdrawal: %+v, want 2 emails, 1 consent, 1 withdrawn", c)
			}
			if r, did, err := s.WithdrawConsent(ctx, ann.ID, at.Add(time.Minute)); err != nil || did || !r.WithdrawnAt.Equal(at) {
				t.Fatalf("withdraw again: %+v %v %v, want unchanged", r, did, err)
			}
			// Signing in without ticking marketing keeps it withdrawn.
			if r, err := s.SignedIn(ctx, "ann@example.com", "e-cccccccccccccccccccccccccc", false, at.Add(time.Minute)); err != nil || r.Marketing || r.ID != ann.ID {
				t.Fatalf("sign-in after withdrawal: %+v %v", r, err)
			}
			if c := span(); c.MarketingConsents != 1 || c.Withdrawn != 1 {
				t.Fatalf("after a plain sign-in: %+v", c)
			}
			// Ticking it again gives consent again.
			r, err = s.SignedIn(ctx, "ann@example.com", "e-cccccccccccccccccccccccccc", true, at.Add(2*time.Minute))
			if err != nil || !r.Marketing || !r.WithdrawnAt.IsZero() {
				t.Fatalf("consent again: %+v %v", r, err)
			}
			if c := span(); c.MarketingConsents != 2 || c.Withdrawn != 0 {
				t.Fatalf("after consenting again: %+v", c)
			}
			if _, _, err := s.WithdrawConsent(ctx, "e-zzzzzzzzzzzzzzzzzzzzzzzzzz", at); !errors.Is(err, buyer.ErrNotFound) {
				t.Fatalf("unknown buyer: %v, want not found", err)
			}
		})
	}
}

// TestWithdrawConsentSignIn: an email buyer withdraws once (counted once);
// a guest session is refused with words and changes nothing.
func TestWithdrawConsentSignIn(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	for name, s := range consentStores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEdge(t, s, mail, nil, nil)
			is, err := e.VerifyCode(context.Background(), buyer.VerifyRequest{Email: name + "@example.com",
				Code: send(t, e, mail, name+"@example.com"), Device: dev, IP: ip, Marketing: true})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if r, err := e.WithdrawConsent(context.Background(), is.Session); err != nil || r.Marketing {
					t.Fatalf("withdraw: %+v %v", r, err)
				}
			}
			if n := testutil.ToFloat64(e.m.ConsentWithdrawals); n != 1 {
				t.Fatalf("withdrawals counted %v, want 1", n)
			}
			g, err := e.Guest(dev, ip)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.WithdrawConsent(context.Background(), g.Session)
			if r := refusal(t, err, buyer.ErrEmailOnly); r.Msg == "" {
				t.Fatal("guest refusal without words")
			}
		})
	}
}
