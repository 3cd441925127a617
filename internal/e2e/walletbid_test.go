package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout/auction"
)

// TestWalletBidInChromium drives the demo's viewer page in headless
// Chromium with a live lot: a guest sees no wallet switch on the auction
// card, only a hint to sign in with an email; signed in with an email, the
// buyer tops up with the bar's button (the card's balance follows),
// switches on "Pay from wallet" and taps Bid: the bid leads and the card's
// balance is the top-up less the hold. After another buyer bids over the
// balance, the next tap is refused with the words of the wallet (the
// balance, what the bid holds, a top-up hint); the lot and the wallet read
// unchanged.
func TestWalletBidInChromium(t *testing.T) {
	_, edgeURL := demoWithLot(t, "walletlot")

	ctx, p := watchInChromium(t, edgeURL+"/watch/demo", 150*time.Second)
	q := func(id string) string { return `document.querySelector('[data-testid="` + id + `"]')` }
	wait := func(what, cond string) {
		t.Helper()
		if err := p.WaitFor(ctx, cond, 20*time.Second); err != nil {
			var got string
			_ = p.Eval(ctx, q("auction")+`.innerText`, &got)
			t.Fatalf("%s: %v (the card reads %q; console %v)", what, err, got, p.Console())
		}
	}
	signIn := func(kind, token, buyer string) {
		t.Helper()
		sess := mustJSON(t, map[string]string{"session": token, "buyer": buyer, "kind": kind,
			"device": "test-device-2", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		if err := p.Eval(ctx, `localStorage.setItem('livedrop.session', `+string(mustJSON(t, string(sess)))+`), true`, nil); err != nil {
			t.Fatal(err)
		}
		if err := p.Navigate(ctx, edgeURL+"/watch/demo?lot=walletlot"); err != nil {
			t.Fatal(err)
		}
	}

	// A guest: no switch, a hint.
	signIn("guest", signedIn(t).Token("wbguest"), signedIn(t).ID("wbguest"))
	wait("the guest's card", `!`+q("auction")+`.hidden && `+q("auction-price")+`.textContent === 'No bids yet' &&
		`+q("auction-wallet")+`.hidden && !`+q("auction-wallet-hint")+`.hidden &&
		/sign in with your email/i.test(`+q("auction-wallet-hint")+`.textContent)`)

	// Signed in with an email: the switch and the (empty) balance.
	tok, wes := signedIn(t).Email("wbwes")
	signIn("email", tok, wes.Buyer)
	wait("the email buyer's card", `!`+q("auction-wallet")+`.hidden && `+q("auction-wallet-hint")+`.hidden &&
		/^Wallet \D*0[.,]00\D*$/.test(`+q("auction-wallet-balance")+`.textContent)`)
	wait("the bar's top-up", `!`+q("wallet")+`.hidden && !`+q("wallet-topup")+`.hidden`)
	if err := p.Click(ctx, `[data-testid="wallet-topup"]`); err != nil {
		t.Fatal(err)
	}
	wait("the topped-up balance on the card", `/^Wallet \D*50[.,]00\D*$/.test(`+q("auction-wallet-balance")+`.textContent)`)
	if err := p.Click(ctx, `[data-testid="auction-pay-wallet"]`); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="auction-bid"]`); err != nil {
		t.Fatal(err)
	}
	wait("the wallet bid leading, its hold off the balance", q("auction-status")+`.textContent === 'You lead (held on your wallet)' &&
		`+q("auction-leader")+`.textContent === 'leading: `+auction.Mask(wes.Buyer)+`' &&
		/^Wallet \D*40[.,]00\D* \(\D*10[.,]00\D* held for bids\)$/.test(`+q("auction-wallet-balance")+`.textContent)`)
	type statement struct{ Balances, Held map[string]int64 }
	mine := func() statement {
		t.Helper()
		var st statement
		if err := json.Unmarshal([]byte(call(t, "GET", edgeURL+"/v1/me/wallet", tok, "", 200)), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := mine(); st.Balances["EUR"] != 4000 || st.Held["EUR"] != 1000 {
		t.Fatalf("the wallet after the bid: %+v, want 40.00 left and 10.00 held", st)
	}

	// Another buyer bids 60.00 (by card): the next tap needs more than the wallet has.
	req, _ := http.NewRequest("POST", edgeURL+"/v1/lots/walletlot/bids", strings.NewReader(`{"amount_cents":6000}`))
	req.Header.Set("Authorization", signedIn(t).Bearer("wbbob"))
	req.Header.Set("Idempotency-Key", "wbbob-1")
	do(t, req, 201)
	wait("the other bid on the card", `/60[.,]00/.test(`+q("auction-price")+`.textContent)`)
	var before auction.Update
	if err := getInto(edgeURL+"/v1/lots/walletlot", &before); err != nil {
		t.Fatal(err)
	}
	if err := p.Click(ctx, `[data-testid="auction-bid"]`); err != nil {
		t.Fatal(err)
	}
	wait("the refusal in words", `/^Wallet balance too low: 40\.00 EUR left, this bid holds \d+\.\d\d EUR \(10\.00 EUR of it already held for your earlier bid\)\. Top up and tap again\.$/.test(`+
		q("auction-status")+`.textContent) && `+q("auction-status")+`.dataset.state === 'error'`)
	var after auction.Update
	if err := getInto(edgeURL+"/v1/lots/walletlot", &after); err != nil {
		t.Fatal(err)
	}
	if after.Bids != before.Bids || after.PriceCents != before.PriceCents || after.Leader != auction.Mask(signedIn(t).ID("wbbob")) {
		t.Errorf("the lot after the refused bid: %+v, want it as before (%+v)", after, before)
	}
	if st := mine(); st.Balances["EUR"] != 4000 || st.Held["EUR"] != 1000 {
		t.Errorf("the wallet after the refused bid: %+v, want 40.00 left and 10.00 held, as before", st)
	}
}
