package auction

import (
	"errors"
	"testing"
)

func testLot() Lot {
	l := Lot{ID: "l1", Currency: "EUR", StartCents: 500, DurationMS: 60_000,
		Increments: Increments{{0, 50}, {1000, 100}, {5000, 250}}}
	l.Normalize()
	return l
}

func live(endsMS int64) State { return State{Phase: PhaseLive, EndsMS: endsMS} }

func TestIncrementsStep(t *testing.T) {
	inc := Increments{{0, 50}, {1000, 100}, {5000, 250}}
	for _, c := range []struct{ p, want int64 }{{0, 50}, {999, 50}, {1000, 100}, {4999, 100}, {5000, 250}, {1 << 40, 250}} {
		if got := inc.Step(c.p); got != c.want {
			t.Errorf("Step(%d) = %d, want %d", c.p, got, c.want)
		}
	}
}

func TestLotValidate(t *testing.T) {
	for name, mut := range map[string]func(*Lot){
		"id":          func(l *Lot) { l.ID = "a b" },
		"currency":    func(l *Lot) { l.Currency = "eur" },
		"start":       func(l *Lot) { l.StartCents = 0 },
		"duration":    func(l *Lot) { l.DurationMS = 10 },
		"first band":  func(l *Lot) { l.Increments = Increments{{10, 5}} },
		"step falls":  func(l *Lot) { l.Increments = Increments{{0, 50}, {100, 10}} },
		"band order":  func(l *Lot) { l.Increments = Increments{{0, 50}, {0, 60}} },
		"zero step":   func(l *Lot) { l.Increments = Increments{{0, 0}} },
		"reserve neg": func(l *Lot) { l.ReserveCents = -1 },
	} {
		l := testLot()
		mut(&l)
		if err := l.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
	if err := testLot().Validate(); err != nil {
		t.Fatal(err)
	}
	l := Lot{SuddenDeath: true, ExtendMS: 5000}
	l.Normalize()
	if l.ExtendMS != 0 || len(l.Increments) == 0 {
		t.Fatalf("normalized sudden death lot: %+v", l)
	}
}

// step is one bid of a scenario and what must come of it.
type step struct {
	bid    Bid
	at     int64
	res    Result
	price  int64
	leader string
	ends   int64
}

func TestResolveScenarios(t *testing.T) {
	reserve := testLot()
	reserve.ReserveCents = 3000
	sudden := testLot()
	sudden.SuddenDeath = true
	sudden.Normalize()
	for name, c := range map[string]struct {
		lot   Lot
		steps []step
	}{
		"first bids": {testLot(), []step{
			{Bid{Buyer: "a", AmountCents: 499}, 1, TooLow, 0, "", 60_000},
			{Bid{Buyer: "a", AmountCents: 500}, 2, Accepted, 500, "a", 60_000},
			{Bid{Buyer: "b", AmountCents: 549}, 3, TooLow, 500, "a", 60_000},
			{Bid{Buyer: "b", AmountCents: 550}, 4, Accepted, 550, "b", 60_000},
			{Bid{Buyer: "c", AmountCents: 800}, 5, Accepted, 800, "c", 60_000},
		}},
		"proxy answers": {testLot(), []step{
			{Bid{Buyer: "a", MaxCents: 1000}, 1, Accepted, 500, "a", 60_000},
			{Bid{Buyer: "b", AmountCents: 600}, 2, Outbid, 650, "a", 60_000},
			{Bid{Buyer: "b", MaxCents: 900}, 3, Outbid, 950, "a", 60_000},
			{Bid{Buyer: "c", MaxCents: 2000}, 4, Accepted, 1100, "c", 60_000},
			{Bid{Buyer: "a", MaxCents: 2000}, 5, Outbid, 2000, "c", 60_000}, // equal maxima: the earlier leads
			{Bid{Buyer: "a", MaxCents: 2100}, 6, Accepted, 2100, "a", 60_000},
		}},
		"proxy capped by its max": {testLot(), []step{
			{Bid{Buyer: "a", MaxCents: 700}, 1, Accepted, 500, "a", 60_000},
			{Bid{Buyer: "b", MaxCents: 720}, 2, Accepted, 720, "b", 60_000},
		}},
		"leader raises own max": {testLot(), []step{
			{Bid{Buyer: "a", MaxCents: 700}, 1, Accepted, 500, "a", 60_000},
			{Bid{Buyer: "a", MaxCents: 700}, 2, TooLow, 500, "a", 60_000},
			{Bid{Buyer: "a", MaxCents: 900}, 3, Accepted, 500, "a", 60_000},
			{Bid{Buyer: "b", AmountCents: 850}, 4, Outbid, 900, "a", 60_000},
		}},
		"reserve lifts the price": {reserve, []step{
			{Bid{Buyer: "a", MaxCents: 2000}, 1, Accepted, 500, "a", 60_000},
			{Bid{Buyer: "b", MaxCents: 5000}, 2, Accepted, 3000, "b", 60_000},
		}},
		"extension": {testLot(), []step{
			{Bid{Buyer: "a", AmountCents: 500}, 49_999, Accepted, 500, "a", 60_000},
			{Bid{Buyer: "b", AmountCents: 550}, 50_001, Accepted, 550, "b", 60_001},
			{Bid{Buyer: "c", AmountCents: 500}, 60_000, TooLow, 550, "b", 60_001},
			{Bid{Buyer: "a", AmountCents: 600}, 60_000, Accepted, 600, "a", 70_000},
			{Bid{Buyer: "b", AmountCents: 650}, 70_000, AuctionOver, 600, "a", 70_000},
		}},
		"sudden death": {sudden, []step{
			{Bid{Buyer: "a", AmountCents: 500}, 59_999, Accepted, 500, "a", 60_000},
			{Bid{Buyer: "b", AmountCents: 550}, 60_000, AuctionOver, 500, "a", 60_000},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			s := live(60_000)
			for i, st := range c.steps {
				var res Result
				s, res = Resolve(c.lot, s, st.bid, st.at)
				if res != st.res || s.PriceCents != st.price || s.Leader != st.leader || s.EndsMS != st.ends {
					t.Fatalf("bid %d %+v at %d: %s, price %d, leader %q, ends %d; want %s, %d, %q, %d",
						i, st.bid, st.at, res, s.PriceCents, s.Leader, s.EndsMS, st.res, st.price, st.leader, st.ends)
				}
			}
		})
	}
}

func TestResolveOutsideLive(t *testing.T) {
	l := testLot()
	if _, r := Resolve(l, State{Phase: PhaseCreated}, Bid{Buyer: "a", AmountCents: 900}, 1); r != NotStarted {
		t.Fatalf("created lot: %s", r)
	}
	if _, r := Resolve(l, State{Phase: PhaseEnded, EndsMS: 100}, Bid{Buyer: "a", AmountCents: 900}, 1); r != AuctionOver {
		t.Fatalf("ended lot: %s", r)
	}
}

func TestWinner(t *testing.T) {
	l := testLot()
	l.ReserveCents = 1000
	if _, _, ok := Winner(l, State{Leader: "a", PriceCents: 999}); ok {
		t.Fatal("a price under the reserve won")
	}
	if b, p, ok := Winner(l, State{Leader: "a", PriceCents: 1000}); !ok || b != "a" || p != 1000 {
		t.Fatalf("winner %q %d %v", b, p, ok)
	}
	if _, _, ok := Winner(l, State{}); ok {
		t.Fatal("nobody bid, yet a winner")
	}
}

func TestBidValidate(t *testing.T) {
	for _, b := range []Bid{{}, {Buyer: "a"}, {Buyer: "a", AmountCents: 1, MaxCents: 2}, {Buyer: "a", AmountCents: -1},
		{Buyer: "a", MaxCents: MaxCents + 1}} {
		if err := b.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", b, err)
		}
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{"": "***", "al": "a***", "alice@example.com": "a***e", "Ærøskøbing": "Æ***g", "bob": "b***"} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
