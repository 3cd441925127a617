package formats_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/checkout/formats"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/checkout/wallet"
	"github.com/livedrop/livedrop/internal/kpi"
	"github.com/livedrop/livedrop/internal/redistest"
)

const token = "report-formats-token-0123"

// backend is the stores of one kind, paired as the app pairs them: all on
// one Redis, or all in memory beside the embedded checkout store.
type backend struct {
	orders  checkout.Store
	lots    auction.Store
	gives   giveaway.Store
	wallet  wallet.Store
	pickups pickup.Store
}

func backends(t *testing.T) map[string]backend {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ms, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return map[string]backend{
		"redis": {checkout.NewRedisStore(rdb, log), auction.NewRedisStore(rdb), giveaway.NewRedisStore(rdb),
			wallet.NewRedisStore(rdb), pickup.NewRedisStore(rdb)},
		"memory": {ms, auction.NewMemStore(nil), giveaway.NewMemStore(), wallet.NewMemStore(), pickup.NewMemStore()},
	}
}

// TestReportSaleFormats runs each format for real, on both backends: two
// lots (one won after two bids, one with no bid), three
// giveaways (two drawn, their prizes to pick up), wallet top-ups, a spend
// and its refund, and a desk's collection with a second desk's conflict;
// then reads the origin's report, JSON and CSV, and checks the section.
func TestReportSaleFormats(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			log := slog.New(slog.DiscardHandler)
			from := time.Now().UTC().Add(-time.Minute)
			cfg := checkout.Defaults()
			ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, Store: b.orders})
			if err != nil {
				t.Fatal(err)
			}
			api, err := checkouthttp.NewControlAPI(ctl, token, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			codes, err := pickup.NewCodes([]byte("0123456789abcdef0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			api.SetFormats(formats.New(formats.Params{Lots: b.lots, Giveaways: b.gives, Wallet: b.wallet, Pickups: b.pickups,
				Orders: ctl, Codes: codes, MaxAge: time.Nanosecond}))
			mux := http.NewServeMux()
			api.Register(mux)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			call(t, "POST", srv.URL+"/v1/drops", `{"id":"d1","stream":"cam1","skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":5}]}`, 201)

			runAuctions(t, b)
			orders := runGiveaways(t, b)
			runWallet(t, b)
			desks, err := pickup.NewDesks(pickup.Params{Orders: ctl, Codes: codes, Store: b.pickups, Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC()
			res, err := desks.Sync(ctx, []pickup.Collection{{Code: codes.Code(orders[0]), Desk: "desk1", At: now}})
			if err != nil || res[0].Status != string(pickup.Collected) {
				t.Fatalf("collect: %+v %v", res, err)
			}
			res, err = desks.Sync(ctx, []pickup.Collection{{Code: codes.Code(orders[0]), Desk: "desk2", At: now}})
			if err != nil || res[0].Status != string(pickup.Conflict) {
				t.Fatalf("second desk: %+v %v", res, err)
			}

			q := "?from=" + url.QueryEscape(from.Format(time.RFC3339Nano)) + "&to=" + url.QueryEscape(time.Now().UTC().Add(time.Minute).Format(time.RFC3339Nano))
			var rep checkouthttp.Report
			if err := json.Unmarshal([]byte(call(t, "GET", srv.URL+"/v1/drops/d1/report"+q, "", 200)), &rep); err != nil {
				t.Fatal(err)
			}
			f := rep.Formats
			if f == nil {
				t.Fatal("the report has no formats")
			}
			a := f.Auctions
			if a.LotsRun != 2 || a.Won != 1 || a.Unsold != 1 || a.Live != 0 || a.Bids != 2 || a.Bidders != 2 {
				t.Fatalf("auctions %+v: want 2 run, 1 won, 1 unsold, 2 bids by 2 bidders", a)
			}
			// won at 1500 from a start of 1000: 1500 ÷ 1000 − 1 = 0.5
			if a.Currency != "EUR" || a.StartCents != 1000 || a.FinalCents != 1500 || a.Uplift != 0.5 || len(a.Lots) != 2 {
				t.Fatalf("auction money %+v", a)
			}
			lots := map[string]kpi.LotFigures{}
			for _, l := range a.Lots {
				lots[l.ID] = l
			}
			if w := lots["vase"]; w.State != "won" || w.StartCents != 1000 || w.FinalCents != 1500 || w.Bids != 2 || w.Bidders != 2 || w.Uplift != 0.5 {
				t.Fatalf("won lot %+v", w)
			}
			if u := lots["lamp"]; u.State != "unsold" || u.Bids != 0 || u.Uplift != 0 || u.StartCents != 2000 {
				t.Fatalf("unsold lot %+v", u)
			}
			if a.BiddingSeconds <= 0 || math.Abs(a.BidsPerSecond-2/a.BiddingSeconds) > 1e-9 {
				t.Fatalf("bids/s %v over %v s: want 2 bids over the lots' bidding time", a.BidsPerSecond, a.BiddingSeconds)
			}
			// entries 3 + 1 + 2 = 6 of amy, bob, cat, dan; g1 and g2 drawn
			// (g2's only entrant dan won it; g1's winner is not dan)
			if g := f.Giveaways; g != (kpi.GiveawayFigures{Run: 3, Entries: 6, UniqueEntrants: 4, Drawn: 2, Winners: 2}) {
				t.Fatalf("giveaways %+v", g)
			}
			// EUR: top-up 5000, spend 2000, refund 2000: liability 5000
			if w := f.Wallet["EUR"]; w != (kpi.WalletFigures{TopUps: 1, TopUpCents: 5000, Spends: 1, SpendCents: 2000, Refunds: 1, RefundCents: 2000, LiabilityCents: 5000}) {
				t.Fatalf("wallet EUR %+v", w)
			}
			if w := f.Wallet["USD"]; w != (kpi.WalletFigures{TopUps: 1, TopUpCents: 700, LiabilityCents: 700}) || len(f.Wallet) != 2 {
				t.Fatalf("wallet %+v", f.Wallet)
			}
			if p := f.Pickup; p != (kpi.PickupFigures{Orders: 2, Collected: 1, Pending: 1, Conflicts: 1}) {
				t.Fatalf("pickup %+v", p)
			}

			// The CSV of the same window says the same, row by row.
			rows, err := csv.NewReader(strings.NewReader(call(t, "GET", srv.URL+"/v1/drops/d1/report"+q+"&format=csv", "", 200))).ReadAll()
			if err != nil {
				t.Fatalf("CSV: %v", err)
			}
			col := map[string]int{}
			for i, h := range rows[0] {
				col[h] = i
			}
			got := map[string]map[string]string{}
			for _, r := range rows[1:] {
				got[r[0]] = map[string]string{}
				for h, i := range col {
					got[r[0]][h] = r[i]
				}
			}
			for scope, want := range map[string]map[string]string{
				"auction": {"runs": "2", "won": "1", "unsold": "1", "bids": "2", "bidders": "2", "start_cents": "1000", "final_cents": "1500",
					"uplift": "0.5", "currency": "EUR", "bids_per_second": strconv.FormatFloat(a.BidsPerSecond, 'f', -1, 64)},
				"auction:currency:EUR": {"won": "1", "start_cents": "1000", "final_cents": "1500", "uplift": "0.5"},
				"auction:lot:vase":     {"won": "1", "bids": "2", "bidders": "2", "final_cents": "1500", "uplift": "0.5"},
				"auction:lot:lamp":     {"unsold": "1", "bids": "0", "start_cents": "2000"},
				"giveaway":             {"runs": "3", "entries": "6", "unique_entrants": "4", "drawn": "2", "winners": "2"},
				"wallet:EUR":           {"topups": "1", "topup_cents": "5000", "spends": "1", "spend_cents": "2000", "refunds": "1", "liability_cents": "5000", "currency": "EUR"},
				"wallet:USD":           {"topups": "1", "liability_cents": "700"},
				"pickup":               {"orders": "2", "collected": "1", "pending": "1", "conflicts": "1"},
			} {
				for h, v := range want {
					if got[scope][h] != v {
						t.Errorf("CSV %s %s = %q, want %q", scope, h, got[scope][h], v)
					}
				}
			}
			if got["total"]["runs"] != "" || got["total"]["liability_cents"] != "" {
				t.Errorf("the sales total row fills the formats' columns: %v", got["total"])
			}
		})
	}
}

// runAuctions runs lot vase to a win (amy 1000, then bob 1500; cat's
// 1000 is too low and does not count) and lot lamp to no bid.
func runAuctions(t *testing.T, b backend) {
	t.Helper()
	ctx := context.Background()
	closer, err := auction.NewCloser(auction.CloserParams{Store: b.lots, Orders: b.orders, Payments: checkout.NewTestProvider(checkout.Defaults().Payment),
		HoldOn: auction.HoldOnWin})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []auction.Lot{{ID: "vase", Title: "Vase", Currency: "EUR", StartCents: 1000, DurationMS: 60_000},
		{ID: "lamp", Title: "Lamp", Currency: "EUR", StartCents: 2000, DurationMS: 60_000}} {
		l.Normalize()
		if err := b.lots.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
		if _, err := b.lots.Start(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
	}
	for i, bid := range []struct {
		buyer string
		cents int64
		want  auction.Result
	}{{"amy", 1000, auction.Accepted}, {"bob", 1500, auction.Accepted}, {"cat", 1000, auction.TooLow}} {
		a, err := b.lots.Bid(ctx, auction.BidRequest{Lot: "vase", Key: "k" + strconv.Itoa(i), Bid: auction.Bid{Buyer: bid.buyer, AmountCents: bid.cents}})
		if err != nil || a.Result != bid.want {
			t.Fatalf("bid %s %d: %+v %v, want %s", bid.buyer, bid.cents, a, err, bid.want)
		}
	}
	for _, id := range []string{"vase", "lamp"} {
		if _, err := b.lots.End(ctx, id); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if err := closer.Settle(ctx, id); err != nil {
				t.Fatal(err)
			}
			if s, _ := b.lots.Lot(ctx, id); s.Closed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lot %s not settled", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if s, _ := b.lots.Lot(ctx, "vase"); s.OrderID == "" {
		t.Fatal("the won lot made no order")
	}
}

// runGiveaways runs g1 (amy, bob, cat; drawn), g2 (dan; drawn) and g3
// (amy, dan; open), the prizes to pick up; it returns g1's and g2's prize
// orders.
func runGiveaways(t *testing.T, b backend) []string {
	t.Helper()
	ctx := context.Background()
	gw, err := giveaway.New(giveaway.Params{Store: b.gives, Orders: b.orders})
	if err != nil {
		t.Fatal(err)
	}
	var orders []string
	for _, g := range []struct {
		id     string
		buyers []string
		draw   bool
	}{{"g1", []string{"amy", "bob", "cat"}, true}, {"g2", []string{"dan"}, true}, {"g3", []string{"amy", "dan"}, false}} {
		if _, err := gw.Start(ctx, giveaway.StartParams{ID: g.id, Stream: "cam1", Prize: "Tote", Rule: giveaway.RulePresent,
			Fulfilment: checkout.FulfilmentPickup}); err != nil {
			t.Fatal(err)
		}
		for _, buyer := range g.buyers {
			if _, err := gw.Enter(ctx, g.id, giveaway.Entrant{Buyer: buyer, Present: true}); err != nil {
				t.Fatal(err)
			}
		}
		if g.draw {
			v, err := gw.Draw(ctx, g.id)
			if err != nil || v.Order == "" {
				t.Fatalf("draw %s: %+v %v", g.id, v, err)
			}
			orders = append(orders, v.Order)
		}
	}
	return orders
}

// runWallet tops amy up with 5000 EUR and 700 USD, spends 2000 EUR on an
// order and refunds it.
func runWallet(t *testing.T, b backend) {
	t.Helper()
	ctx := context.Background()
	m, _ := wallet.NewMetrics(nil)
	w := wallet.NewWallets(b.wallet, checkout.NewTestProvider(checkout.Defaults().Payment), m, nil)
	if _, err := w.TopUp(ctx, "amy", "t1", 5000, "EUR"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.TopUp(ctx, "amy", "t2", 700, "USD"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, _, err := b.wallet.Apply(ctx, wallet.SpendMovement("d1.order1", "amy", 2000, "EUR", now)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := wallet.Refund(ctx, b.wallet, "d1.order1", now); err != nil {
		t.Fatal(err)
	}
}

func call(t *testing.T, method, u, body string, want int) string {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, u, resp.StatusCode, out, want)
	}
	return string(out)
}
