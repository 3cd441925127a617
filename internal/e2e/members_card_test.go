package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer/smtptest"
)

// TestMemberCardInChromium drives member early access as its viewers see
// it, in headless Chromium: a drop opens for everyone in 10 minutes and for
// members now, with a member price. A member (flagged on the seller's list,
// signed in by emailed code from the card's "Member? Sign in") reads
// "Member early access · opens for everyone in 10 min" and the member price
// on the card, taps Buy, and the order the drop records is at the member
// price. A guest then reads "Opens for everyone in 10 min", Buy is off
// ("Members only until HH:MM"), and a tap anyway is refused by the edge
// with that text.
func TestMemberCardInChromium(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	addrs, _ := startDemo(t, map[string]string{
		"LIVEDROP_BUYER_SMTP_ADDR": mail.Addr(), "LIVEDROP_BUYER_SMTP_TLS": "none",
		"LIVEDROP_BUYER_SMTP_FROM": "Shop <codes@shop.example>",
	})
	ctl, edgeURL := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "PUT", ctl+"/v1/members/mia.member@example.com", demoToken, "", 200)
	opensAt := time.Now().UTC().Add(10*time.Minute - 5*time.Second).Truncate(time.Second) // "10 min" until it opens for all
	call(t, "POST", ctl+"/v1/drops", demoToken, fmt.Sprintf(`{"id":"memweb","stream":"demo","opens_at":%q,
		"members":{"early_minutes":15},"skus":[{"sku":"tee","name":"Member Tee","price_cents":2500,"member_price_cents":1900,
		"currency":"EUR","stock":10,"max_per_buyer":2}]}`, opensAt.Format(time.RFC3339)), 201)
	waitFor(t, 15*time.Second, "the early opening", func() bool {
		return strings.Contains(call(t, "GET", ctl+"/v1/drops/memweb", demoToken, "", 200), `"state":"open"`)
	})
	call(t, "POST", ctl+"/v1/streams/demo/overlays", demoToken, `{"type":"product","drop":"memweb","sku":"tee"}`, 201)

	ctx, p := watchInChromium(t, edgeURL+"/watch/demo", 150*time.Second)
	if err := p.SetViewport(ctx, 360, 740); err != nil {
		t.Fatal(err)
	}
	wait := func(what, cond string) {
		t.Helper()
		if err := p.WaitFor(ctx, cond, 20*time.Second); err != nil {
			card, _ := p.Text(ctx, `[data-testid="product-card"]`)
			t.Fatalf("%s: %v (card %q, console %v)", what, err, card, p.Console())
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := p.Text(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(s)
	}
	membersOnly := regexp.MustCompile(`^Members only until \d{1,2}:\d\d(\s?[AP]M)?$`) // the viewer's local HH:MM

	// Signed out: the card says when it opens for everyone, and offers members a sign-in.
	wait("the member card", `/^Opens for everyone in 10 min$/.test(document.querySelector('[data-testid="member-card-text"]')?.textContent || '')`)
	if bt := text(`[data-testid="buy"]`); !membersOnly.MatchString(bt) {
		t.Fatalf("signed out, Buy reads %q, want Members only until HH:MM", bt)
	}

	// The member signs in from the card.
	if err := p.Click(ctx, `[data-testid="member-signin"]`); err != nil {
		t.Fatal(err)
	}
	wait("the sign-in step", `!document.querySelector('[data-testid="signin"]').hidden`)
	if err := p.Type(ctx, `[data-testid="signin-email"]`, "mia.member@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="signin-send"]`); err != nil {
		t.Fatal(err)
	}
	code, err := mail.Code("mia.member@example.com", 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wait("the code step", `!document.querySelector('[data-testid="signin-code-step"]').hidden`)
	if err := p.Type(ctx, `[data-testid="signin-code"]`, code); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="signin-verify"]`); err != nil {
		t.Fatal(err)
	}
	wait("the member's card", `/^Member early access · opens for everyone in 10 min$/.test(document.querySelector('[data-testid="member-card-text"]').textContent)`)
	if pr := text(`[data-testid="price"]`); !strings.HasPrefix(pr, "Member price") || !strings.Contains(pr, "19") {
		t.Fatalf("member reads the price %q, want the member price 19.00", pr)
	}
	wait("Buy for the member", `!document.querySelector('[data-testid="buy"]').disabled`)
	if err := p.Click(ctx, `[data-testid="buy"]`); err != nil {
		t.Fatal(err)
	}
	wait("the member's order", `/Order confirmed/.test(document.querySelector('[data-testid="order-status"]').textContent)`)
	var orderID string
	if err := p.Eval(ctx, `document.querySelector('[data-testid="product-card"]').dataset.orderId`, &orderID); err != nil || orderID == "" {
		t.Fatalf("order id on the card: %q %v", orderID, err)
	}
	var page struct {
		Orders []struct {
			ID         string `json:"id"`
			PriceCents int64  `json:"price_cents"`
		} `json:"orders"`
	}
	if err := json.Unmarshal([]byte(call(t, "GET", ctl+"/v1/drops/memweb/orders", demoToken, "", 200)), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Orders) != 1 || page.Orders[0].ID != orderID || page.Orders[0].PriceCents != 1900 {
		t.Fatalf("the drop's orders %+v, want the member's %s at 1900", page.Orders, orderID)
	}

	// A guest: the card says when it opens for everyone, Buy is off, and a
	// tap anyway is refused with the same words.
	if err := p.Click(ctx, `[data-testid="account"]`); err != nil { // signs the member out
		t.Fatal(err)
	}
	if err := p.Eval(ctx, `(window.livedrop.signIn(), true)`, new(bool)); err != nil {
		t.Fatal(err)
	}
	wait("the sign-in step", `!document.querySelector('[data-testid="signin"]').hidden`)
	if err := p.Click(ctx, `[data-testid="signin-guest"]`); err != nil {
		t.Fatal(err)
	}
	wait("the guest's card", `!!window.livedrop.buyerSession() && /^Opens for everyone in 10 min$/.test(document.querySelector('[data-testid="member-card-text"]').textContent)`)
	wait("Buy off for the guest", `document.querySelector('[data-testid="buy"]').disabled`)
	if bt := text(`[data-testid="buy"]`); !membersOnly.MatchString(bt) {
		t.Fatalf("guest's Buy reads %q, want Members only until HH:MM", bt)
	}
	if pr := text(`[data-testid="price"]`); strings.HasPrefix(pr, "Member") || !strings.Contains(pr, "25") {
		t.Fatalf("guest reads the price %q, want the normal price 25.00", pr)
	}
	// A page that enables Buy anyway (stale, or scripted): the edge refuses.
	if err := p.Eval(ctx, `(() => { const b = document.querySelector('[data-testid="buy"]'); b.disabled = false; b.click(); return true })()`, new(bool)); err != nil {
		t.Fatal(err)
	}
	wait("the refusal", `/^Members only until \d{1,2}:\d\d(\s?[AP]M)?$/.test(document.querySelector('[data-testid="order-status"]').textContent)`)
	if err := json.Unmarshal([]byte(call(t, "GET", ctl+"/v1/drops/memweb/orders", demoToken, "", 200)), &page); err != nil || len(page.Orders) != 1 {
		t.Fatalf("the drop's orders after the guest's tap: %+v %v, want only the member's", page.Orders, err)
	}
}
