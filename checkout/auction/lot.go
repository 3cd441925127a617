package auction

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/livedrop/livedrop/checkout"
)

// ErrInvalid marks bad input: a lot or bid that breaks the rules.
var ErrInvalid = errors.New("invalid")

// Errors of the stores.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrConflict = errors.New("conflict")
)

// MaxCents bounds every amount: a won lot becomes an order, so no bid may
// exceed the price an order can carry (and the overlay card can show).
const MaxCents = int64(checkout.MaxPriceCent)

// DefaultExtendMS is the anti-snipe window when a lot names none: a bid in
// the last 10 s puts the end 10 s after it.
const DefaultExtendMS = 10_000

// Band is one row of the increments table: from FromCents up, a bid must
// beat the current price by at least StepCents.
type Band struct {
	FromCents int64 `json:"from_cents"`
	StepCents int64 `json:"step_cents"`
}

// Increments is the increments table, bands by rising FromCents, the
// first from 0.
type Increments []Band

// DefaultIncrements is the table of a lot that names none.
var DefaultIncrements = Increments{{0, 50}, {1000, 100}, {5000, 250}, {10000, 500}, {50000, 1000}, {100000, 2500}}

// Step is the smallest raise over price p.
func (t Increments) Step(p int64) int64 {
	step := t[0].StepCents
	for _, b := range t[1:] {
		if p < b.FromCents {
			break
		}
		step = b.StepCents
	}
	return step
}

func (t Increments) validate() error {
	if len(t) == 0 || t[0].FromCents != 0 {
		return fmt.Errorf("increments: the first band must start at 0: %w", ErrInvalid)
	}
	for i, b := range t {
		if b.StepCents <= 0 || b.StepCents > MaxCents {
			return fmt.Errorf("increments[%d].step_cents: must be positive: %w", i, ErrInvalid)
		}
		if i > 0 && (b.FromCents <= t[i-1].FromCents || b.StepCents < t[i-1].StepCents) {
			return fmt.Errorf("increments[%d]: bands must rise in from_cents and never lower the step: %w", i, ErrInvalid)
		}
	}
	return nil
}

// Lot is one item sold by auction and its rules.
type Lot struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Stream   string `json:"stream,omitempty"`
	Currency string `json:"currency"`
	// StartCents is the lowest first bid; ReserveCents (0: none) the lowest
	// price that sells.
	StartCents   int64      `json:"start_cents"`
	ReserveCents int64      `json:"reserve_cents,omitempty"`
	Increments   Increments `json:"increments,omitempty"`
	// DurationMS is how long the lot runs from its start.
	DurationMS int64 `json:"duration_ms"`
	// ExtendMS: a bid in the last ExtendMS puts the end ExtendMS after it
	// (0: DefaultExtendMS). SuddenDeath: no extension at all.
	ExtendMS    int64 `json:"extend_ms,omitempty"`
	SuddenDeath bool  `json:"sudden_death,omitempty"`
}

var lotID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Normalize fills the defaults of a lot.
func (l *Lot) Normalize() {
	if len(l.Increments) == 0 {
		l.Increments = slices.Clone(DefaultIncrements)
	}
	if l.ExtendMS == 0 && !l.SuddenDeath {
		l.ExtendMS = DefaultExtendMS
	}
	if l.SuddenDeath {
		l.ExtendMS = 0
	}
}

// Validate checks a normalized lot.
func (l Lot) Validate() error {
	bad := func(key, msg string) error { return fmt.Errorf("%s: %s: %w", key, msg, ErrInvalid) }
	switch {
	case !lotID.MatchString(l.ID):
		return bad("id", "1-64 letters, digits, '-' or '_'")
	case len(l.Title) > 200:
		return bad("title", "at most 200 bytes")
	case !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(l.Currency):
		return bad("currency", "a 3-letter ISO code")
	case l.StartCents <= 0 || l.StartCents > MaxCents:
		return bad("start_cents", "must be positive")
	case l.ReserveCents < 0 || l.ReserveCents > MaxCents:
		return bad("reserve_cents", "must be 0 (none) or positive")
	case l.DurationMS < 1000 || l.DurationMS > 24*3600*1000:
		return bad("duration_ms", "between 1 s and 24 h")
	case l.ExtendMS < 0 || l.ExtendMS > 600_000:
		return bad("extend_ms", "between 0 and 10 min")
	}
	return l.Increments.validate()
}

// Config is the node's auction settings (key "checkout.auction").
type Config struct {
	// HoldAtWin takes the winner's payment hold when they win instead of
	// at each buyer's first bid.
	HoldAtWin bool `yaml:"hold_at_win"`
}

// HoldOn is when payment holds are taken (HoldOnBid or HoldOnWin).
func (c Config) HoldOn() string {
	if c.HoldAtWin {
		return HoldOnWin
	}
	return HoldOnBid
}
