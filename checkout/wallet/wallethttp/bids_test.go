package wallethttp

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/auction/auctionhttp"
	"github.com/livedrop/livedrop/checkout/wallet"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/redistest"
)

// bidStores are the lots' and the wallets' stores as a node builds them:
// both in memory, or both on one real Redis.
func bidStores(t *testing.T) []struct {
	name   string
	lots   auction.Store
	wallet wallet.Store
} {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return []struct {
		name   string
		lots   auction.Store
		wallet wallet.Store
	}{
		{"mem", auction.NewMemStore(nil), wallet.NewMemStore()},
		{"redis", auction.NewRedisStore(rdb), wallet.NewRedisStore(rdb)},
	}
}

// TestWalletBidRefusals: over HTTP at the edge, a wallet bid is refused
// before it is taken when a guest session sends it (403 email_required),
// when it names a method the edge does not know (400, saying which it
// takes), and when the balance does not cover it (402
// insufficient_balance with the balance, in words: what the bid holds, and
// for a raise what the earlier bid holds of it). After each refusal no bid
// is recorded and nothing is held: the lot and the wallet read as before.
func TestWalletBidRefusals(t *testing.T) {
	for _, ts := range bidStores(t) {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			logger := slog.New(slog.DiscardHandler)
			reg := prometheus.NewRegistry()
			m, err := wallet.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			card := checkout.NewTestProvider(checkout.PaymentConfig{})
			pay := wallet.NewPayments(card, ts.wallet, m, time.Now, logger)
			e, err := auction.NewEdge(auction.EdgeParams{Store: ts.lots, Payments: pay, HoldOn: auction.HoldOnBid})
			if err != nil {
				t.Fatal(err)
			}
			runUntilCleanup(t, e.Run)
			buyers := buyertest.New(t, "")
			api, err := auctionhttp.NewEdgeAPI(e, buyers.Sessions(), logger)
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			api.Register(mux)
			NewEdgeAPI(wallet.NewWallets(ts.wallet, card, m, time.Now), buyers.Sessions(), time.Second, logger).Register(mux)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)

			lot := auction.Lot{ID: "wb1", Title: "Guitar", Currency: "EUR", StartCents: 1000, DurationMS: 300_000}
			lot.Normalize()
			if err := ts.lots.Create(ctx, lot); err != nil {
				t.Fatal(err)
			}
			if _, err := ts.lots.Start(ctx, lot.ID); err != nil {
				t.Fatal(err)
			}
			bids := srv.URL + "/v1/lots/wb1/bids"
			ann, bob := buyers.EmailBearer("ann"), buyers.EmailBearer("bob")
			_, annSess := buyers.Email("ann")
			if code, body := call(t, "POST", srv.URL+"/v1/me/wallet/topups", ann, "t1", `{"amount_cents":500,"currency":"EUR"}`); code != http.StatusCreated {
				t.Fatalf("top-up: %d %s", code, body)
			}

			type view struct {
				bids      int
				price     int64
				leader    string
				holds     map[string]string
				bal, held int64
			}
			read := func() view {
				t.Helper()
				snap, err := ts.lots.Lot(ctx, lot.ID)
				if err != nil {
					t.Fatal(err)
				}
				holds, err := ts.lots.Holds(ctx, lot.ID)
				if err != nil {
					t.Fatal(err)
				}
				st, err := ts.wallet.Statement(ctx, annSess.Buyer, 1)
				if err != nil {
					t.Fatal(err)
				}
				return view{bids: snap.State.Bids, price: snap.State.PriceCents, leader: snap.State.Leader, holds: holds,
					bal: st.Balances["EUR"], held: st.Held["EUR"]}
			}
			same := func(what string, a, b view) {
				t.Helper()
				if a.bids != b.bids || a.price != b.price || a.leader != b.leader || !maps.Equal(a.holds, b.holds) || a.bal != b.bal || a.held != b.held {
					t.Errorf("%s changed the lot or the wallet: before %+v, after %+v", what, a, b)
				}
			}
			refused := func(what, auth, key, body string, wantCode int, wantErr string) auctionhttp.BidAnswer {
				t.Helper()
				before := read()
				code, raw := call(t, "POST", bids, auth, key, body)
				var a auctionhttp.BidAnswer
				if err := json.Unmarshal([]byte(raw), &a); err != nil || code != wantCode || !strings.Contains(a.Error, wantErr) {
					t.Errorf("%s: %d %s, want %d and an error saying %q", what, code, raw, wantCode, wantErr)
				}
				same(what, before, read())
				return a
			}

			// A guest has no wallet.
			a := refused("a guest's wallet bid", buyers.Bearer("gus"), "g1", `{"amount_cents":1000,"pay":"wallet"}`,
				http.StatusForbidden, "sign in with your email")
			if a.Code != "email_required" {
				t.Errorf("a guest's wallet bid: code %q, want email_required", a.Code)
			}
			if got := refusedTotal(t, reg, "email_required"); got != 1 {
				t.Errorf(`livedrop_wallet_refused_total{reason="email_required"} = %v after a guest's wallet bid, want 1`, got)
			}
			// A method the edge does not take.
			a = refused("a bid paid in bitcoin", ann, "a0", `{"amount_cents":1000,"pay":"bitcoin"}`,
				http.StatusBadRequest, `pay must be empty (card) or "wallet"`)
			if a.Code != "bad_request" {
				t.Errorf("a bid paid in bitcoin: code %q, want bad_request", a.Code)
			}
			// Over the balance: the balance and what the bid holds, in words.
			a = refused("a bid over the balance", ann, "a1", `{"amount_cents":1000,"pay":"wallet"}`,
				http.StatusPaymentRequired, "Wallet balance too low: 5.00 EUR left, this bid holds 10.00 EUR. Top up and tap again.")
			if a.Code != "insufficient_balance" || a.BalanceCents == nil || *a.BalanceCents != 500 || a.Currency != "EUR" {
				t.Errorf("a bid over the balance: %+v, want insufficient_balance with a balance of 500 EUR", a)
			}
			if got := refusedTotal(t, reg, "insufficient_balance"); got != 1 {
				t.Errorf(`livedrop_wallet_refused_total{reason="insufficient_balance"} = %v, want 1`, got)
			}

			// Topped up, the bid is taken and held; a raise over what is left
			// is refused, saying what the first bid holds of it.
			if code, body := call(t, "POST", srv.URL+"/v1/me/wallet/topups", ann, "t2", `{"amount_cents":1000,"currency":"EUR"}`); code != http.StatusCreated {
				t.Fatalf("top-up: %d %s", code, body)
			}
			if code, body := call(t, "POST", bids, ann, "a1", `{"amount_cents":1000,"pay":"wallet"}`); code != http.StatusCreated {
				t.Fatalf("the same bid after the top-up: %d %s", code, body)
			}
			if v := read(); v.bal != 500 || v.held != 1000 || v.bids != 1 || v.holds[annSess.Buyer] == "" {
				t.Fatalf("after the wallet bid: %+v, want 5.00 left, 10.00 held, one bid, the hold on the lot", v)
			}
			if code, body := call(t, "POST", bids, bob, "b1", `{"amount_cents":2000}`); code != http.StatusCreated {
				t.Fatalf("bob's card bid: %d %s", code, body)
			}
			// The edge takes a card bid's hold after the bid: wait for it.
			_, bobSess := buyers.Email("bob")
			for deadline := time.Now().Add(10 * time.Second); read().holds[bobSess.Buyer] == ""; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("bob's card hold not recorded on the lot after 10s")
				}
			}
			a = refused("a raise over the balance", ann, "a2", `{"amount_cents":2500,"pay":"wallet"}`, http.StatusPaymentRequired,
				"Wallet balance too low: 5.00 EUR left, this bid holds 25.00 EUR (10.00 EUR of it already held for your earlier bid). Top up and tap again.")
			if a.BalanceCents == nil || *a.BalanceCents != 500 {
				t.Errorf("a raise over the balance: %+v, want a balance of 500", a)
			}
		})
	}
}
