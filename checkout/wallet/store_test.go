package wallet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/redistest"
)

type testStore struct {
	name    string
	store   Store
	restart func() // nil: the store does not outlive a restart
}

// stores returns a MemStore and a RedisStore on a fresh redis-server
// (append-only, fsync always, as checkout runs it).
func stores(t *testing.T) []testStore {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true, AppendFsync: "always"})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return []testStore{
		{name: "mem", store: NewMemStore()},
		{name: "redis", store: NewRedisStore(rdb), restart: srv.Restart},
	}
}

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func topUp(buyer, key string, cents int64) Movement {
	return Movement{Key: topUpKey(buyer, key), Kind: KindTopUp, Buyer: buyer, AmountCents: cents, Currency: "EUR", At: t0}
}

// checkLedger asserts that the ledger sums to every account's balance,
// that all accounts sum to zero, that no buyer (balance or hold) is below
// zero, and that the liability is the buyers' sum (balances + holds).
func checkLedger(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	led, err := s.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bal, err := s.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sums := Sums(led)
	for acct, cur := range sums {
		for c, v := range cur {
			if bal[acct][c] != v {
				t.Errorf("account %s %s: balance %d, ledger sums to %d", acct, c, bal[acct][c], v)
			}
		}
	}
	var total, buyers int64
	for acct, cur := range bal {
		for c, v := range cur {
			if sums[acct][c] != v {
				t.Errorf("account %s %s: balance %d without ledger entries (%d)", acct, c, v, sums[acct][c])
			}
			total += v
			if isOwedAccount(acct) { // the balance and the held money
				buyers += v
				if v < 0 {
					t.Errorf("buyer account %s below zero: %d", acct, v)
				}
			}
		}
	}
	if total != 0 {
		t.Errorf("accounts sum to %d, want 0 (double entry)", total)
	}
	l, err := s.Liability(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l["EUR"] != buyers {
		t.Errorf("liability %d, buyer balances sum to %d", l["EUR"], buyers)
	}
}

func TestMovementsAndLedger(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			s := ts.store
			e, replayed, err := s.Apply(ctx, topUp("ann", "k1", 5000))
			if err != nil || replayed {
				t.Fatalf("top-up: %v replayed=%v", err, replayed)
			}
			if e.Debit != AccountProvider || e.Credit != "buyer:ann" || e.AmountCents != 5000 || e.Seq != 1 {
				t.Errorf("top-up entry %+v", e)
			}
			if _, replayed, err := s.Apply(ctx, topUp("ann", "k1", 5000)); err != nil || !replayed {
				t.Errorf("same top-up again: %v replayed=%v, want a replay", err, replayed)
			}
			if _, _, err := s.Apply(ctx, topUp("ann", "k1", 6000)); !errors.Is(err, ErrKeyReused) {
				t.Errorf("key reused with another amount: %v, want ErrKeyReused", err)
			}
			sp := SpendMovement("d1-o1", "ann", 3000, "EUR", t0)
			if e, _, err := s.Apply(ctx, sp); err != nil || e.Debit != "buyer:ann" || e.Credit != AccountSales {
				t.Fatalf("spend: %+v %v", e, err)
			}
			if _, replayed, err := s.Apply(ctx, sp); err != nil || !replayed {
				t.Errorf("spend retried: %v replayed=%v", err, replayed)
			}
			// 2000 left: a 2001 spend is refused and changes nothing.
			if _, _, err := s.Apply(ctx, SpendMovement("d1-o2", "ann", 2001, "EUR", t0)); !errors.Is(err, ErrInsufficient) {
				t.Errorf("overspend: %v, want ErrInsufficient", err)
			}
			if _, _, err := s.Apply(ctx, SpendMovement("d1-o3", "bob", 1, "EUR", t0)); !errors.Is(err, ErrInsufficient) {
				t.Errorf("spend from an empty wallet: %v, want ErrInsufficient", err)
			}
			if _, _, err := s.Apply(ctx, SpendMovement("d1-o4", "ann", 1, "USD", t0)); !errors.Is(err, ErrInsufficient) {
				t.Errorf("spend in a currency the wallet has none of: %v, want ErrInsufficient", err)
			}
			if _, _, err := s.Apply(ctx, SpendMovement("d1-o5", "ann", 2000, "EUR", t0)); err != nil {
				t.Errorf("spend of the whole balance: %v", err)
			}
			st, err := s.Statement(ctx, "ann", 10)
			if err != nil {
				t.Fatal(err)
			}
			if st.Balances["EUR"] != 0 || len(st.Entries) != 3 || st.Entries[0].Order != "d1-o5" {
				t.Errorf("statement %+v", st)
			}
			// A refund gives the spend back once, whatever the retries.
			for range 2 {
				e, _, err := Refund(ctx, s, "d1-o1", t0)
				if err != nil || e.Kind != KindRefund || e.AmountCents != 3000 || e.Credit != "buyer:ann" {
					t.Fatalf("refund: %+v %v", e, err)
				}
			}
			if _, _, err := Refund(ctx, s, "d1-o2", t0); !errors.Is(err, ErrNoSpend) {
				t.Errorf("refund of a refused spend: %v, want ErrNoSpend", err)
			}
			if st, _ := s.Statement(ctx, "ann", 10); st.Balances["EUR"] != 3000 {
				t.Errorf("balance after refund %d, want 3000", st.Balances["EUR"])
			}
			if led, _ := s.Ledger(ctx); len(led) != 4 {
				t.Errorf("ledger has %d entries, want 4 (top-up, 2 spends, refund)", len(led))
			}
			checkLedger(t, s)
			for _, bad := range []Movement{
				{Key: "x", Kind: "steal", Buyer: "ann", AmountCents: 1, Currency: "EUR"},
				{Key: "x", Kind: KindTopUp, Buyer: "ann", AmountCents: 0, Currency: "EUR"},
				{Key: "x", Kind: KindTopUp, Buyer: "ann", AmountCents: -5, Currency: "EUR"},
				{Key: "x", Kind: KindTopUp, Buyer: "ann", AmountCents: 1, Currency: "eur"},
				{Key: "", Kind: KindTopUp, Buyer: "ann", AmountCents: 1, Currency: "EUR"},
				{Key: "x", Kind: KindTopUp, Buyer: "a b", AmountCents: 1, Currency: "EUR"},
			} {
				if _, _, err := s.Apply(ctx, bad); checkout.ClassOf(err) != checkout.ClassInvalid {
					t.Errorf("Apply(%+v) = %v, want invalid", bad, err)
				}
			}
			checkLedger(t, s)
		})
	}
}

// TestConcurrentSpendsNeverOverspend races 500 spends of one buyer whose
// balance covers 100, then (Redis) restarts the server: exactly 100 pay,
// and the ledger still sums to the balances.
func TestConcurrentSpendsNeverOverspend(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			s := ts.store
			if _, _, err := s.Apply(ctx, topUp("cat", "k", 100*250)); err != nil {
				t.Fatal(err)
			}
			var paid, refused atomic.Int64
			var wg sync.WaitGroup
			sem := make(chan struct{}, 32)
			for i := range 500 {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					_, _, err := s.Apply(ctx, SpendMovement(fmt.Sprintf("d1-%d", i), "cat", 250, "EUR", t0))
					switch {
					case err == nil:
						paid.Add(1)
					case errors.Is(err, ErrInsufficient):
						refused.Add(1)
					default:
						t.Errorf("spend %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			if paid.Load() != 100 || refused.Load() != 400 {
				t.Errorf("paid %d refused %d, want 100 and 400", paid.Load(), refused.Load())
			}
			checkLedger(t, s)
			if ts.restart == nil {
				return
			}
			ts.restart()
			st, err := s.Statement(ctx, "cat", 1)
			if err != nil {
				t.Fatal(err)
			}
			if st.Balances["EUR"] != 0 {
				t.Errorf("balance after restart %d, want 0", st.Balances["EUR"])
			}
			if led, _ := s.Ledger(ctx); len(led) != 101 {
				t.Errorf("ledger after restart has %d entries, want 101", len(led))
			}
			checkLedger(t, s)
		})
	}
}

func TestPaymentsPayFromTheWalletOnce(t *testing.T) {
	for _, ts := range stores(t) {
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			m, _ := NewMetrics(nil)
			card := checkout.NewTestProvider(checkout.PaymentConfig{})
			p := NewPayments(card, ts.store, m, func() time.Time { return t0 }, slog.New(slog.DiscardHandler))
			w := NewWallets(ts.store, card, m, func() time.Time { return t0 })
			if _, err := w.TopUp(ctx, "dan", "tk1", 1000, "EUR"); err != nil {
				t.Fatal(err)
			}
			if _, err := w.TopUp(ctx, "dan", "tk1", 1000, "EUR"); err != nil {
				t.Fatalf("top-up retried: %v", err)
			}
			if _, err := w.TopUp(ctx, "dan", "tk1", 2000, "EUR"); !errors.Is(err, ErrKeyReused) {
				t.Errorf("top-up key reused: %v", err)
			}
			req := checkout.PaymentRequest{OrderID: "d1-a", Buyer: "dan", AmountCents: 600, Currency: "EUR", Method: MethodWallet}
			for range 2 { // a retried payment (another edge, a restart) charges once
				auth, err := p.Authorize(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Capture(ctx, auth); err != nil {
					t.Fatal(err)
				}
			}
			req2 := req
			req2.OrderID = "d1-b"
			if _, err := p.Authorize(ctx, req2); !errors.Is(err, checkout.ErrPaymentDeclined) {
				t.Errorf("second order over the balance: %v, want declined", err)
			}
			st, _ := w.Statement(ctx, "dan")
			if st.Balances["EUR"] != 400 {
				t.Errorf("balance %d, want 400", st.Balances["EUR"])
			}
			// The seller's refund names the order: it goes back to the wallet.
			if err := p.Refund(ctx, "d1-a"); err != nil {
				t.Fatal(err)
			}
			if err := p.Refund(ctx, "wallet:d1-a"); err != nil {
				t.Fatal(err)
			}
			if st, _ := w.Statement(ctx, "dan"); st.Balances["EUR"] != 1000 {
				t.Errorf("balance after refund %d, want 1000", st.Balances["EUR"])
			}
			// A card order goes to the card provider.
			creq := checkout.PaymentRequest{OrderID: "d1-c", Buyer: "dan", AmountCents: 5000, Currency: "EUR"}
			if _, err := p.Authorize(ctx, creq); err != nil {
				t.Fatal(err)
			}
			if err := p.Refund(ctx, "d1-c"); err != nil || !card.Refunded("d1-c") {
				t.Errorf("card refund: %v refunded=%v", err, card.Refunded("d1-c"))
			}
			checkLedger(t, ts.store)
		})
	}
}
