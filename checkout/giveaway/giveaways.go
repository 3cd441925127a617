package giveaway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// Params build Giveaways.
type Params struct {
	Store Store
	// Orders record the winner's zero-price order (the origin's checkout
	// store); nil on an edge, which only takes entries.
	Orders checkout.Store
	// Random is the seeds' source (crypto/rand.Reader when nil).
	Random  io.Reader
	Now     func() time.Time
	Metrics *Metrics
	Logger  *slog.Logger
}

// Giveaways runs giveaways on a Store: the seller starts and draws them
// (the origin), viewers enter them (the edges).
type Giveaways struct {
	p   Params
	log *slog.Logger
}

// New returns Giveaways on p.Store.
func New(p Params) (*Giveaways, error) {
	if p.Store == nil {
		return nil, errors.New("giveaway: a store is required")
	}
	if p.Random == nil {
		p.Random = rand.Reader
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Metrics == nil {
		p.Metrics, _ = NewMetrics(nil)
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	return &Giveaways{p: p, log: p.Logger.With("component", "giveaway")}, nil
}

// StartParams are a new giveaway's.
type StartParams struct {
	ID, Stream, Prize, Rule string
	// Fulfilment of the winner's order: "" (shipping) or pickup.
	Fulfilment string
}

// Start opens a giveaway with a fresh seed and returns what viewers see
// (its commitment, no seed).
func (g *Giveaways) Start(ctx context.Context, sp StartParams) (Info, error) {
	if err := checkStart(sp.ID, sp.Stream, sp.Prize, sp.Rule); err != nil {
		return Info{}, err
	}
	if !checkout.ValidID(sp.ID) || !checkout.ValidID(orderDrop(sp.ID)) {
		return Info{}, fmt.Errorf("%w: id must be letters, digits, _ or -", ErrInvalid)
	}
	if !checkout.ValidFulfilment(sp.Fulfilment) {
		return Info{}, fmt.Errorf("%w: fulfilment must be empty or %q", ErrInvalid, checkout.FulfilmentPickup)
	}
	seed := make([]byte, SeedLen)
	if _, err := io.ReadFull(g.p.Random, seed); err != nil {
		return Info{}, fmt.Errorf("giveaway seed: %w", err)
	}
	r := Record{Info: Info{ID: sp.ID, Stream: sp.Stream, Prize: sp.Prize, Rule: sp.Rule, Commitment: Commitment(sp.ID, seed),
		StartedAt: g.p.Now().UTC()}, SecretSeed: hex.EncodeToString(seed), Fulfilment: sp.Fulfilment}
	if err := g.p.Store.Create(ctx, r); err != nil {
		return Info{}, err
	}
	g.p.Metrics.started.Inc()
	g.log.Info("giveaway started", "giveaway", sp.ID, "stream", sp.Stream, "rule", sp.Rule)
	return r.Info, nil
}

// Get returns what viewers see of giveaway id: after the draw, the seed,
// the entrants and the winner, enough to re-run Draw.
func (g *Giveaways) Get(ctx context.Context, id string) (View, error) {
	r, res, drawn, err := g.p.Store.Get(ctx, id)
	if err != nil {
		return View{}, err
	}
	return view(r, res, drawn), nil
}

// Latest returns the giveaway started last on stream (ErrNotFound: none).
func (g *Giveaways) Latest(ctx context.Context, stream string) (View, error) {
	id, err := g.p.Store.Latest(ctx, stream)
	if err != nil {
		return View{}, err
	}
	if id == "" {
		return View{}, ErrNotFound
	}
	return g.Get(ctx, id)
}

// View is a giveaway as the API shows it.
type View struct {
	Info
	State string `json:"state"` // "open" or "drawn"
	// After the draw: the winner as viewers see the name, the entrants'
	// digest and the winner's order (for the seller; empty elsewhere).
	WinnerMasked   string `json:"winner_masked,omitempty"`
	EntrantsDigest string `json:"entrants_digest,omitempty"`
	Order          string `json:"order,omitempty"`
}

func view(r Record, res Result, drawn bool) View {
	v := View{Info: r.Info, State: "open"}
	if drawn {
		v.State, v.Seed, v.Winner, v.EntrantIDs = "drawn", r.SecretSeed, res.Winner, res.Entrants
		v.Entrants = len(res.Entrants)
		v.WinnerMasked, v.EntrantsDigest, v.Order = Mask(res.Winner), EntrantsDigest(res.Entrants), res.Order
	}
	return v
}

// Enter enters e in giveaway id if its rule lets e in: ErrNotEligible
// (wrapped with why), ErrClosed, ErrNotFound. It reports whether the entry
// is new.
func (g *Giveaways) Enter(ctx context.Context, id string, e Entrant) (bool, error) {
	r, _, drawn, err := g.p.Store.Get(ctx, id)
	switch {
	case err != nil:
		g.p.Metrics.entry(err)
		return false, err
	case drawn:
		g.p.Metrics.entry(ErrClosed)
		return false, ErrClosed
	case e.Buyer == "":
		return false, fmt.Errorf("%w: no buyer", ErrInvalid)
	}
	if why := Why(r.Info.Rule, e); why != "" {
		err := &Refusal{Rule: r.Info.Rule, Why: why}
		g.p.Metrics.entry(err)
		return false, err
	}
	added, err := g.p.Store.Enter(ctx, id, e.Buyer)
	if err != nil {
		g.p.Metrics.entry(err)
		return false, err
	}
	if added {
		g.p.Metrics.entry(nil)
	} else {
		g.p.Metrics.entries.WithLabelValues("again").Inc()
	}
	return added, nil
}

// Why names what e lacks under rule ("" when eligible): "not_watching",
// "not_signed_in" or "no_purchase".
func Why(rule string, e Entrant) string {
	switch {
	case Eligible(rule, e):
		return ""
	case !e.Present:
		return "not_watching"
	case !e.Verified && rule != RulePresent:
		return "not_signed_in"
	case !e.Bought && rule == RuleBuyers:
		return "no_purchase"
	}
	return "not_eligible"
}

// Refusal is an entry the rule leaves out; it is ErrNotEligible.
type Refusal struct {
	Rule, Why string
}

func (r *Refusal) Error() string {
	msg := map[string]string{"not_watching": "watch the stream to enter", "not_signed_in": "sign in with your email to enter",
		"no_purchase": "this giveaway is for buyers: buy something to enter"}[r.Why]
	if msg == "" {
		msg = "not eligible"
	}
	return fmt.Sprintf("this giveaway is for %s: %s", r.Rule, msg)
}

// Is makes a Refusal ErrNotEligible.
func (r *Refusal) Is(target error) bool { return target == ErrNotEligible }

// Draw closes entries, draws the winner from the committed seed, records
// the winner's zero-price order and reveals the seed. Every step is
// idempotent: drawing again (or after a crash) returns the same result.
func (g *Giveaways) Draw(ctx context.Context, id string) (View, error) {
	r, res, drawn, err := g.p.Store.Get(ctx, id)
	if err != nil {
		return View{}, err
	}
	if drawn {
		return view(r, res, true), nil
	}
	if r.Info.Entrants == 0 { // entries stay open: nobody to draw yet
		return View{}, ErrNoEntrants
	}
	entrants, err := g.p.Store.Close(ctx, id)
	if err != nil {
		return View{}, err
	}
	seed, err := hex.DecodeString(r.SecretSeed)
	if err != nil {
		return View{}, fmt.Errorf("giveaway %s: stored seed: %w", id, err)
	}
	winner, list, err := Draw(id, seed, entrants)
	if err != nil {
		return View{}, err
	}
	res = Result{Winner: winner, Entrants: list}
	if g.p.Orders != nil {
		o, err := winnerOrder(ctx, g.p.Orders, r, winner, g.p.Now())
		if err != nil {
			return View{}, err
		}
		res.Order = o.ID
	}
	if res, err = g.p.Store.SetResult(ctx, id, res); err != nil {
		return View{}, err
	}
	g.p.Metrics.draws.Inc()
	g.log.Info("giveaway drawn", "giveaway", id, "entrants", len(list), "order", res.Order)
	return view(r, res, true), nil
}

// Mask is the winner as viewers see the id: its first and last four
// characters (the winner recognises their own id; others see no more).
func Mask(buyer string) string {
	if len(buyer) <= 8 {
		return strings.Repeat("*", len(buyer))
	}
	return buyer[:4] + "…" + buyer[len(buyer)-4:]
}
