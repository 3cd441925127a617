package kpi

import (
	"testing"
	"time"
)

// sec is t0 plus s seconds.
func sec(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// TestAuctionsBidsPerSecondAndUplift checks the auction figures against
// values computed by hand:
//
//	lot  started  ends   bids bidders    start  final  state
//	A    60 s     120 s  12   x, y, z    1000   2500   won
//	B    300 s    330 s  6    x, w       2000   2500   won
//	C    600 s    630 s  0    -          500    0      unsold
//	L    900 s    930 s* 2    v          800    900    live (* read at 930 s)
//	old  -60 s    0 s    5    q          100    200    won, started before the window
//
// Bidding time 60 + 30 + 30 + 30 = 150 s for 12 + 6 + 0 + 2 = 20 bids:
// 20 ÷ 150 = 0.1333… bids/s (A 12 ÷ 60 = 0.2, B 6 ÷ 30 = 0.2, L 2 ÷ 30).
// Uplift over the won lots: (2500 + 2500) ÷ (1000 + 2000) − 1 = 2/3;
// A alone 2500 ÷ 1000 − 1 = 1.5, B 2500 ÷ 2000 − 1 = 0.25. Bidders
// x, y, z, w, v: 5 distinct.
func TestAuctionsBidsPerSecondAndUplift(t *testing.T) {
	lots := []Lot{
		{ID: "C", Currency: "EUR", StartCents: 500, StartedAt: sec(600), EndsAt: sec(630)},
		{ID: "A", Currency: "EUR", StartCents: 1000, StartedAt: sec(60), EndsAt: sec(120), Won: true, FinalCents: 2500, Bids: 12, Bidders: []string{"x", "y", "z"}},
		{ID: "B", Currency: "EUR", StartCents: 2000, StartedAt: sec(300), EndsAt: sec(330), Won: true, FinalCents: 2500, Bids: 6, Bidders: []string{"x", "w"}},
		{ID: "L", Currency: "EUR", StartCents: 800, StartedAt: sec(900), EndsAt: sec(930), Live: true, FinalCents: 900, Bids: 2, Bidders: []string{"v"}},
		{ID: "old", Currency: "EUR", StartCents: 100, StartedAt: sec(-60), EndsAt: sec(0), Won: true, FinalCents: 200, Bids: 5, Bidders: []string{"q"}},
		{ID: "never", Currency: "EUR", StartCents: 100}, // created, never started
	}
	f := Auctions(lots, t0, sec(3600))
	if f.LotsRun != 4 || f.Won != 2 || f.Unsold != 1 || f.Live != 1 || f.Bids != 20 || f.Bidders != 5 {
		t.Fatalf("run %d won %d unsold %d live %d bids %d bidders %d; want 4 2 1 1 20 5", f.LotsRun, f.Won, f.Unsold, f.Live, f.Bids, f.Bidders)
	}
	near(t, "bidding seconds", f.BiddingSeconds, 150)
	near(t, "bids per second", f.BidsPerSecond, 20.0/150)
	near(t, "uplift", f.Uplift, 2.0/3)
	if f.Currency != "EUR" || f.StartCents != 3000 || f.FinalCents != 5000 {
		t.Fatalf("money %s %d -> %d, want EUR 3000 -> 5000", f.Currency, f.StartCents, f.FinalCents)
	}
	want := []struct {
		id, state string
		bps, up   float64
	}{{"A", "won", 0.2, 1.5}, {"B", "won", 0.2, 0.25}, {"C", "unsold", 0, 0}, {"L", "live", 2.0 / 30, 0}}
	if len(f.Lots) != len(want) {
		t.Fatalf("lots %+v", f.Lots)
	}
	for i, w := range want {
		l := f.Lots[i]
		if l.ID != w.id || l.State != w.state {
			t.Errorf("lot %d: %s %s, want %s %s (in the order started)", i, l.ID, l.State, w.id, w.state)
		}
		near(t, l.ID+" bids/s", l.BidsPerSecond, w.bps)
		near(t, l.ID+" uplift", l.Uplift, w.up)
	}

	// Won lots in two currencies: no total money, per currency instead.
	lots[0] = Lot{ID: "C", Currency: "USD", StartCents: 400, StartedAt: sec(600), EndsAt: sec(630), Won: true, FinalCents: 500, Bids: 1, Bidders: []string{"x"}}
	f = Auctions(lots, t0, sec(3600))
	if f.Currency != Mixed || f.FinalCents != 0 || f.Uplift != 0 {
		t.Fatalf("mixed: %s %d %v", f.Currency, f.FinalCents, f.Uplift)
	}
	near(t, "USD uplift", f.ByCurrency["USD"].Uplift, 0.25) // 500 ÷ 400 − 1
	near(t, "EUR uplift", f.ByCurrency["EUR"].Uplift, 2.0/3)
	if e := Auctions(nil, t0, sec(1)); e.BidsPerSecond != 0 || e.Uplift != 0 || e.Lots == nil {
		t.Fatalf("no lots: %+v", e)
	}
}

// TestGiveawaysWalletPickups checks the other formats by hand.
func TestGiveawaysWalletPickups(t *testing.T) {
	from, to := t0, sec(3600)
	g := Giveaways([]Giveaway{
		{ID: "g1", StartedAt: sec(10), Entrants: []string{"a", "b", "c"}, Winner: "b"},
		{ID: "g2", StartedAt: sec(20), Entrants: []string{"b", "d"}, Winner: "b"},
		{ID: "g3", StartedAt: sec(30), Entrants: []string{"e"}}, // open
		{ID: "g0", StartedAt: sec(-10), Entrants: []string{"z"}, Winner: "z"},
	}, from, to)
	// entries 3 + 2 + 1 = 6; unique a b c d e = 5; drawn 2; winners b = 1
	if g != (GiveawayFigures{Run: 3, Entries: 6, UniqueEntrants: 5, Drawn: 2, Winners: 1}) {
		t.Fatalf("giveaways %+v", g)
	}

	w := Wallet([]WalletMove{
		{Kind: MoveTopUp, AmountCents: 1000, Currency: "EUR", At: sec(-100)}, // before: liability only
		{Kind: MoveTopUp, AmountCents: 5000, Currency: "EUR", At: sec(100)},
		{Kind: MoveSpend, AmountCents: 2500, Currency: "EUR", At: sec(200)},
		{Kind: MoveRefund, AmountCents: 2500, Currency: "EUR", At: sec(300)},
		{Kind: MoveSpend, AmountCents: 1200, Currency: "EUR", At: sec(400)},
		{Kind: MoveTopUp, AmountCents: 700, Currency: "USD", At: sec(500)},
		{Kind: MoveTopUp, AmountCents: 9999, Currency: "EUR", At: sec(3600)}, // at to: not yet
	}, from, to)
	// EUR liability 1000 + 5000 − 2500 + 2500 − 1200 = 4800
	if w["EUR"] != (WalletFigures{TopUps: 1, TopUpCents: 5000, Spends: 2, SpendCents: 3700, Refunds: 1, RefundCents: 2500, LiabilityCents: 4800}) ||
		w["USD"] != (WalletFigures{TopUps: 1, TopUpCents: 700, LiabilityCents: 700}) || len(w) != 2 {
		t.Fatalf("wallet %+v", w)
	}

	p := Pickups([]PickupOrder{
		{Order: "o1", CreatedAt: sec(10), CollectedAt: sec(50)},
		{Order: "o2", CreatedAt: sec(20), CollectedAt: sec(60), Conflicts: 2},
		{Order: "o3", CreatedAt: sec(30)},
		{Order: "o4", CreatedAt: sec(40), CollectedAt: sec(4000)}, // collected after the window
		{Order: "o0", CreatedAt: sec(-40), CollectedAt: sec(5)},   // placed before
	}, from, to)
	if p != (PickupFigures{Orders: 4, Collected: 2, Pending: 2, Conflicts: 2}) {
		t.Fatalf("pickup %+v", p)
	}
}
