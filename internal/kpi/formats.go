package kpi

import (
	"sort"
	"time"
)

// The sale formats' figures of the event report (auctions, giveaways, the
// wallet, pickup), over a window [from, to); docs/kpi.md gives each formula.

// Lot is one auction lot as the report reads it.
type Lot struct {
	ID, Title, Currency string
	StartCents          int64
	// StartedAt is when the seller started it; EndsAt its end (anti-snipe
	// extensions and the seller's hammer included), or when it was read
	// while it still runs (Live).
	StartedAt, EndsAt time.Time
	Live              bool
	// Won: it ended with a winner; FinalCents is then the winning amount,
	// else the price it stood at (0 without a bid).
	Won        bool
	FinalCents int64
	// Bids counts the bids the store accepted (results accepted and
	// outbid: each moved the price or a maximum); Bidders are the buyers
	// who made them.
	Bids    int
	Bidders []string
}

// Giveaway is one giveaway as the report reads it.
type Giveaway struct {
	ID, Prize string
	StartedAt time.Time
	// Entrants are its entrants (one entry per buyer).
	Entrants []string
	// Winner is set once drawn.
	Winner string
}

// Wallet movement kinds (wallet.Kind).
const (
	MoveTopUp  = "topup"
	MoveSpend  = "spend"
	MoveRefund = "refund"
)

// WalletMove is one ledger entry: a top-up or refund credits a buyer's
// wallet, a spend debits it.
type WalletMove struct {
	Kind        string
	AmountCents int64
	Currency    string
	At          time.Time
}

// PickupOrder is one order to be picked up at the stall.
type PickupOrder struct {
	Order     string
	CreatedAt time.Time
	// CollectedAt is its hand-over at a desk (zero: not yet).
	CollectedAt time.Time
	// Conflicts counts other desks' attempts at its code.
	Conflicts int
}

// FormatEvents is everything the format figures are computed from.
type FormatEvents struct {
	Lots      []Lot
	Giveaways []Giveaway
	Wallet    []WalletMove
	Pickups   []PickupOrder
}

// LotFigures are one lot's figures.
type LotFigures struct {
	ID         string `json:"id"`
	Title      string `json:"title,omitempty"`
	Currency   string `json:"currency"`
	State      string `json:"state"` // live, won, unsold
	StartCents int64  `json:"start_cents"`
	FinalCents int64  `json:"final_cents"`
	Bids       int    `json:"bids"`
	Bidders    int    `json:"bidders"`
	// BiddingSeconds is EndsAt − StartedAt.
	BiddingSeconds float64 `json:"bidding_seconds"`
	BidsPerSecond  float64 `json:"bids_per_second"`
	// Uplift is FinalCents ÷ StartCents − 1 of a won lot (0 otherwise).
	Uplift float64 `json:"uplift"`
}

// AuctionMoney is the won lots' money in one currency.
type AuctionMoney struct {
	Won        int     `json:"won"`
	StartCents int64   `json:"start_cents"`
	FinalCents int64   `json:"final_cents"`
	Uplift     float64 `json:"uplift"`
}

// AuctionFigures are the lots started in the window.
type AuctionFigures struct {
	LotsRun int `json:"lots_run"`
	Won     int `json:"won"`
	Unsold  int `json:"unsold"`
	Live    int `json:"live"`
	Bids    int `json:"bids"`
	// Bidders are distinct buyers over all the lots.
	Bidders        int     `json:"bidders"`
	BiddingSeconds float64 `json:"bidding_seconds"`
	BidsPerSecond  float64 `json:"bids_per_second"`
	// Currency of the won lots ("mixed": several; the money figures are
	// then 0 here and per currency in ByCurrency).
	Currency   string                  `json:"currency"`
	StartCents int64                   `json:"start_cents"`
	FinalCents int64                   `json:"final_cents"`
	Uplift     float64                 `json:"uplift"`
	ByCurrency map[string]AuctionMoney `json:"by_currency"`
	Lots       []LotFigures            `json:"lots"`
}

// GiveawayFigures are the giveaways started in the window.
type GiveawayFigures struct {
	Run int `json:"run"`
	// Entries sums each giveaway's entrants; UniqueEntrants counts each
	// buyer once over all of them.
	Entries        int `json:"entries"`
	UniqueEntrants int `json:"unique_entrants"`
	Drawn          int `json:"drawn"`
	// Winners are distinct winners.
	Winners int `json:"winners"`
}

// WalletFigures are one currency's wallet movements in the window and the
// liability at its end.
type WalletFigures struct {
	TopUps      int   `json:"topups"`
	TopUpCents  int64 `json:"topup_cents"`
	Spends      int   `json:"spends"`
	SpendCents  int64 `json:"spend_cents"`
	Refunds     int   `json:"refunds"`
	RefundCents int64 `json:"refund_cents"`
	// LiabilityCents is what buyers' wallets hold at the window's end:
	// top-ups + refunds − spends of every movement before it.
	LiabilityCents int64 `json:"liability_cents"`
}

// PickupFigures are the pickup orders placed in the window.
type PickupFigures struct {
	Orders    int `json:"orders"`
	Collected int `json:"collected"`
	Pending   int `json:"pending"`
	Conflicts int `json:"conflicts"`
}

// FormatFigures are the report's "Sale formats" section.
type FormatFigures struct {
	Auctions  AuctionFigures           `json:"auctions"`
	Giveaways GiveawayFigures          `json:"giveaways"`
	Wallet    map[string]WalletFigures `json:"wallet"`
	Pickup    PickupFigures            `json:"pickup"`
}

// ratio is a ÷ b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// uplift is final ÷ start − 1 (0 without a start).
func uplift(final, start int64) float64 {
	if start == 0 {
		return 0
	}
	return float64(final)/float64(start) - 1
}

// ComputeFormats computes the format figures over [from, to).
func ComputeFormats(ev FormatEvents, from, to time.Time) FormatFigures {
	return FormatFigures{Auctions: Auctions(ev.Lots, from, to), Giveaways: Giveaways(ev.Giveaways, from, to),
		Wallet: Wallet(ev.Wallet, from, to), Pickup: Pickups(ev.Pickups, from, to)}
}

// Auctions computes the figures of the lots started in [from, to), lots
// in the order they started.
func Auctions(lots []Lot, from, to time.Time) AuctionFigures {
	f := AuctionFigures{ByCurrency: map[string]AuctionMoney{}, Lots: []LotFigures{}}
	bidders := map[string]bool{}
	var run []Lot
	for _, l := range lots {
		if !l.StartedAt.IsZero() && in(l.StartedAt, from, to) {
			run = append(run, l)
		}
	}
	sort.SliceStable(run, func(i, j int) bool { return run[i].StartedAt.Before(run[j].StartedAt) })
	for _, l := range run {
		secs := max(0, l.EndsAt.Sub(l.StartedAt).Seconds())
		lf := LotFigures{ID: l.ID, Title: l.Title, Currency: l.Currency, StartCents: l.StartCents, FinalCents: l.FinalCents,
			Bids: l.Bids, Bidders: len(l.Bidders), BiddingSeconds: secs, BidsPerSecond: ratio(float64(l.Bids), secs)}
		f.LotsRun++
		f.Bids += l.Bids
		f.BiddingSeconds += secs
		for _, b := range l.Bidders {
			bidders[b] = true
		}
		switch {
		case l.Live:
			lf.State = "live"
			f.Live++
		case l.Won:
			lf.State, lf.Uplift = "won", uplift(l.FinalCents, l.StartCents)
			f.Won++
			m := f.ByCurrency[l.Currency]
			m.Won++
			m.StartCents += l.StartCents
			m.FinalCents += l.FinalCents
			m.Uplift = uplift(m.FinalCents, m.StartCents)
			f.ByCurrency[l.Currency] = m
		default:
			lf.State = "unsold"
			f.Unsold++
		}
		f.Lots = append(f.Lots, lf)
	}
	f.Bidders = len(bidders)
	f.BidsPerSecond = ratio(float64(f.Bids), f.BiddingSeconds)
	switch len(f.ByCurrency) {
	case 0:
	case 1:
		for cur, m := range f.ByCurrency {
			f.Currency, f.StartCents, f.FinalCents, f.Uplift = cur, m.StartCents, m.FinalCents, m.Uplift
		}
	default:
		f.Currency = Mixed
	}
	return f
}

// Giveaways computes the figures of the giveaways started in [from, to).
func Giveaways(gs []Giveaway, from, to time.Time) GiveawayFigures {
	var f GiveawayFigures
	entrants, winners := map[string]bool{}, map[string]bool{}
	for _, g := range gs {
		if !in(g.StartedAt, from, to) {
			continue
		}
		f.Run++
		f.Entries += len(g.Entrants)
		for _, e := range g.Entrants {
			entrants[e] = true
		}
		if g.Winner != "" {
			f.Drawn++
			winners[g.Winner] = true
		}
	}
	f.UniqueEntrants, f.Winners = len(entrants), len(winners)
	return f
}

// Wallet computes each currency's movements in [from, to) and its
// liability at to (every movement before to).
func Wallet(moves []WalletMove, from, to time.Time) map[string]WalletFigures {
	out := map[string]WalletFigures{}
	for _, m := range moves {
		if !m.At.Before(to) {
			continue
		}
		f := out[m.Currency]
		inWindow := !m.At.Before(from)
		switch m.Kind {
		case MoveTopUp:
			f.LiabilityCents += m.AmountCents
			if inWindow {
				f.TopUps++
				f.TopUpCents += m.AmountCents
			}
		case MoveSpend:
			f.LiabilityCents -= m.AmountCents
			if inWindow {
				f.Spends++
				f.SpendCents += m.AmountCents
			}
		case MoveRefund:
			f.LiabilityCents += m.AmountCents
			if inWindow {
				f.Refunds++
				f.RefundCents += m.AmountCents
			}
		default:
			continue
		}
		out[m.Currency] = f
	}
	return out
}

// Pickups computes the figures of the pickup orders placed in [from, to):
// collected means handed over before to.
func Pickups(orders []PickupOrder, from, to time.Time) PickupFigures {
	var f PickupFigures
	for _, o := range orders {
		if !in(o.CreatedAt, from, to) {
			continue
		}
		f.Orders++
		if !o.CollectedAt.IsZero() && o.CollectedAt.Before(to) {
			f.Collected++
		} else {
			f.Pending++
		}
		f.Conflicts += o.Conflicts
	}
	return f
}
