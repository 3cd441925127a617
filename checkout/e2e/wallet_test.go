package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/wallet"
	"github.com/livedrop/livedrop/checkout/wallet/wallethttp"
	"github.com/livedrop/livedrop/internal/nodetest"
	"github.com/livedrop/livedrop/internal/redistest"
)

// edgeWallet is an edge child's wallet: its payment provider and routes.
type edgeWallet struct {
	store    wallet.Store
	card     checkout.PaymentProvider
	metrics  *wallet.Metrics
	payments *wallet.Payments
}

// childWallet builds the wallet of an edge child on its store's Redis, as
// the node does (internal/app/wallet.go).
func childWallet(store checkout.Store, cfg checkout.Config, reg prometheus.Registerer, logger *slog.Logger) (*edgeWallet, error) {
	var ws wallet.Store = wallet.NewMemStore()
	if rs, ok := store.(*checkout.RedisStore); ok {
		ws = wallet.NewRedisStore(rs.Client())
	}
	m, err := wallet.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	card := checkout.NewTestProvider(cfg.Payment)
	return &edgeWallet{store: ws, card: card, metrics: m, payments: wallet.NewPayments(card, ws, m, time.Now, logger)}, nil
}

func (w *edgeWallet) register(mux *http.ServeMux, sessions wallethttp.Sessions, logger *slog.Logger) {
	wallethttp.NewEdgeAPI(wallet.NewWallets(w.store, w.card, w.metrics, time.Now), sessions, 2*time.Second, logger).Register(mux)
}

func walletCall(client *http.Client, method, url, buyer, key string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", buyers.EmailBearer(buyer)) // a wallet is for signed-in buyers
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// checkWalletLedger asserts that the ledger sums to every account's
// balance, that no buyer is below zero and that the liability is the sum
// of the buyers' balances.
func checkWalletLedger(t *testing.T, ws wallet.Store) []wallet.Entry {
	t.Helper()
	ctx := context.Background()
	led, err := ws.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bal, err := ws.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sums := wallet.Sums(led)
	var buyersSum int64
	for acct, cur := range bal {
		for c, v := range cur {
			if sums[acct][c] != v {
				t.Errorf("account %s %s: balance %d, the ledger sums to %d", acct, c, v, sums[acct][c])
			}
			if acct != wallet.AccountProvider && acct != wallet.AccountSales {
				buyersSum += v
				if v < 0 {
					t.Errorf("buyer account %s is below zero: %d", acct, v)
				}
			}
		}
	}
	for acct, cur := range sums {
		for c, v := range cur {
			if bal[acct][c] != v {
				t.Errorf("account %s %s: ledger sums to %d, balance %d", acct, c, v, bal[acct][c])
			}
		}
	}
	if l, err := ws.Liability(ctx); err != nil || l["EUR"] != buyersSum {
		t.Errorf("liability %v (%v), buyers' balances sum to %d", l, err, buyersSum)
	}
	return led
}

// TestWalletThousandSpendsThreeEdges: one buyer whose wallet covers 300
// orders places 1,000 wallet orders at once through three edge processes
// (and retries 100 of them through another edge). Each order holds its
// price on the wallet before it is answered: with Redis up exactly 300
// are answered 201 and paid, the other 700 are refused up front (402
// insufficient_balance), and no order is cancelled. With Redis killed
// (SIGKILL) in the middle and started again on its directory: at most 300
// are accepted and paid, each once. Either way the balance never goes
// below zero, each order took its price from the wallet if paid and
// nothing otherwise, the ledger sums to the balances (and holds), also
// after another kill and restart, and a seller's refund credits the
// wallet at once.
func TestWalletThousandSpendsThreeEdges(t *testing.T) {
	t.Run("redis restarted after", func(t *testing.T) { walletSpends(t, false) })
	// Killed while the spends run: an answer lost with the server is
	// asked again (idempotent by order id) and still charges once.
	t.Run("redis killed during", func(t *testing.T) { walletSpends(t, true) })
}

func walletSpends(t *testing.T, killDuring bool) {
	cfg := baseConfig()
	cfg.RateLimitPerDevice, cfg.RateLimitPerIP = 0, 0 // one buyer's one device taps 1,000 times
	if killDuring {
		cfg.HoldTime = 3 * time.Second // the orders nobody could pay expire within the test
	}
	c := newCluster(t, redistest.Options{AppendOnly: true, AppendFsync: "always"}, cfg)
	const drop, price, orders, covered = "wallet", 1999, 1000, 300
	c.openDrop(t, drop, 3*orders) // stock to spare: the wallet, not the stock, is what runs out
	var urls []string
	var edges []*nodetest.Child
	for i := range 3 {
		e := startEdge(t, fmt.Sprintf("w%d", i), t.TempDir(), c.srv.URL(), "127.0.0.1:0", cfg)
		edges = append(edges, e)
		urls = append(urls, e.URL)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	const who = "whale"
	// The top-up, retried through another edge, is credited once.
	for _, u := range urls[:2] {
		code, body, err := walletCall(client, "POST", u+"/v1/me/wallet/topups", who, "topup-1", map[string]any{"amount_cents": covered * price, "currency": "EUR"})
		if err != nil || code != http.StatusCreated {
			t.Fatalf("top-up at %s: %d %s %v", u, code, body, err)
		}
	}
	var st wallet.Statement
	code, body, err := walletCall(client, "GET", urls[2]+"/v1/me/wallet", who, "", nil)
	if err != nil || code != http.StatusOK || json.Unmarshal(body, &st) != nil || st.Balances["EUR"] != covered*price || len(st.Entries) != 1 {
		t.Fatalf("wallet after a retried top-up: %d %s %v", code, body, err)
	}
	buyerID := st.Buyer // the id of the session's buyer

	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]int{}       // order id -> answers with it
	refused := map[string]int{}   // key -> 402 answers
	accepted := map[string]bool{} // key -> answered 201
	place := func(i, edge int) {
		code, data, err := walletCall(client, "POST", urls[edge%3]+"/v1/drops/"+drop+"/orders", who, fmt.Sprintf("k-%d", i), map[string]any{"sku": "tee", "qty": 1, "pay": "wallet"})
		for try := 0; err == nil && code == http.StatusServiceUnavailable && try < 50; try++ {
			time.Sleep(50 * time.Millisecond) // the client's backoff on "try again shortly"
			code, data, err = walletCall(client, "POST", urls[edge%3]+"/v1/drops/"+drop+"/orders", who, fmt.Sprintf("k-%d", i), map[string]any{"sku": "tee", "qty": 1, "pay": "wallet"})
		}
		var o checkout.Order
		var refusal struct {
			Code         string `json:"code"`
			BalanceCents *int64 `json:"balance_cents"`
		}
		if err == nil && code == http.StatusPaymentRequired && json.Unmarshal(data, &refusal) == nil &&
			refusal.Code == "insufficient_balance" && refusal.BalanceCents != nil && *refusal.BalanceCents < price {
			mu.Lock()
			refused[fmt.Sprintf("k-%d", i)]++
			mu.Unlock()
			return
		}
		if err != nil || code != http.StatusCreated || json.Unmarshal(data, &o) != nil || o.Pay != checkout.PayWallet {
			t.Errorf("order %d at edge %d: %d %s %v", i, edge%3, code, data, err)
			return
		}
		mu.Lock()
		accepted[fmt.Sprintf("k-%d", i)] = true
		ids[o.ID]++
		if len(ids) == covered/2 && killDuring {
			wg.Go(c.srv.Restart) // SIGKILL mid-run, then the same directory
		}
		mu.Unlock()
	}
	for i := range orders {
		wg.Go(func() { place(i, i) })
		if i < 100 {
			wg.Go(func() { place(i, i+1) }) // the same key through another edge
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for k := range refused {
		if accepted[k] {
			t.Errorf("key %s was both refused for the balance and accepted", k)
		}
	}
	if len(ids)+len(refused) != orders || len(ids) > covered || (!killDuring && len(ids) != covered) {
		t.Fatalf("%d distinct orders and %d keys refused for the balance, want %d and %d", len(ids), len(refused), covered, orders-covered)
	}
	var stored map[string]checkout.Order
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		pending := map[string]int{}
		for _, o := range stored {
			if o.Status == checkout.StatusPending {
				pending[o.Edge]++
			}
		}
		t.Logf("%d orders stored, pending by edge %v", len(stored), pending)
		for _, e := range edges {
			resp, err := http.Get(e.URL + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "livedrop_wallet_") || strings.HasPrefix(l, "livedrop_checkout_payments") || strings.HasPrefix(l, "livedrop_checkout_shipped") {
					t.Logf("%s %s", e.URL, l)
				}
			}
		}
	})
	eventually(t, 60*time.Second, "every order paid or cancelled", func() bool {
		stored = c.storedOrders(t, drop)
		if len(stored) < len(ids) {
			return false
		}
		for _, o := range stored {
			if o.Status == checkout.StatusPending {
				return false
			}
		}
		return true
	})
	var paid []checkout.Order
	cancelled := 0
	for _, o := range stored {
		switch {
		case o.Status == checkout.StatusPaid:
			paid = append(paid, o)
		case o.Status == checkout.StatusCancelled && killDuring:
			// Killed during: a direct sale whose answer was lost is
			// answered by lookup and never paid: its hold expires.
			cancelled++
		default:
			t.Errorf("order %s: %s %s", o.ID, o.Status, o.Reason)
		}
	}
	if len(stored) != len(ids) {
		t.Errorf("%d orders stored, %d accepted: a refused order left one", len(stored), len(ids))
	}
	if !killDuring && (len(paid) != covered || cancelled != 0) {
		t.Fatalf("%d paid and %d cancelled, want %d and none", len(paid), cancelled, covered)
	}
	if len(paid) == 0 || len(paid) > covered {
		t.Fatalf("%d orders paid, want 1-%d", len(paid), covered)
	}
	ws := wallet.NewRedisStore(c.rdb)
	refunded := map[string]bool{}
	// check: the ledger sums to the balances; each order's spends less its
	// refunds is its price if it is paid (and not refunded), else nothing;
	// the balance is the top-up less what the paid orders cost.
	check := func(when string) {
		t.Helper()
		led := checkWalletLedger(t, ws)
		net := map[string]int64{}
		for _, e := range led {
			switch e.Kind {
			case wallet.KindSpend, wallet.KindCapture:
				net[e.Order] += e.AmountCents
			case wallet.KindRefund:
				net[e.Order] -= e.AmountCents
			}
		}
		kept := map[string]bool{}
		for _, o := range paid {
			if !refunded[o.ID] {
				kept[o.ID] = true
			}
		}
		for id, v := range net {
			if want := map[bool]int64{true: price}[kept[id]]; v != want {
				t.Errorf("%s: order %s (paid and kept %v) has %d cents net from the wallet, want %d", when, id, kept[id], v, want)
			}
		}
		for id := range kept {
			if net[id] != price {
				t.Errorf("%s: paid order %s has %d cents from the wallet, want %d", when, id, net[id], price)
			}
		}
		want := int64(covered-len(kept)) * price
		st, err := ws.Statement(context.Background(), buyerID, 1)
		if err != nil || st.Balances["EUR"] != want {
			t.Errorf("%s: balance %v (%v), want %d", when, st.Balances, err, want)
		}
	}
	check("after the spends")

	// The seller refunds one paid order: the wallet has it back at once.
	logger := slog.New(slog.DiscardHandler)
	m, _ := wallet.NewMetrics(nil)
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: logger, Registerer: prometheus.NewRegistry(), Config: cfg, Store: c.store,
		Payment: wallet.NewPayments(checkout.NewTestProvider(cfg.Payment), ws, m, time.Now, logger)})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := ctl.RefundOrder(context.Background(), paid[0].ID, false); err != nil || o.Status != checkout.StatusRefunded {
		t.Fatalf("refund: %+v %v", o, err)
	}
	refunded[paid[0].ID] = true
	check("after a refund")

	c.srv.Restart() // SIGKILL, then the same directory
	eventually(t, 10*time.Second, "redis back", func() bool { return c.rdb.Ping(context.Background()).Err() == nil })
	check("after a Redis restart")
	code, body, err = walletCall(client, "GET", urls[1]+"/v1/me/wallet", who, "", nil)
	if err != nil || code != http.StatusOK || json.Unmarshal(body, &st) != nil || st.Balances["EUR"] != int64(covered-len(paid)+1)*price || st.Entries[0].Kind != wallet.KindRefund {
		t.Fatalf("wallet after the restart: %d %s %v", code, body, err)
	}
}
