package proof

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Policy is what a drop asks of its buyers (checkout.Gate).
type Policy struct {
	// WatchSeconds is the watch time the buyer's media session must prove
	// (0: none).
	WatchSeconds int
	// ProofOfWork asks for a solved challenge with each order.
	ProofOfWork bool
}

// On reports whether the policy asks for anything.
func (p Policy) On() bool { return p.WatchSeconds > 0 || p.ProofOfWork }

// Params build a Gate.
type Params struct {
	Config Config
	// NodeSecrets are the secrets every edge shares (access.node_secrets):
	// the first signs, every one verifies.
	NodeSecrets []string
	Registerer  prometheus.Registerer
}

// Gate issues watch proofs and challenges and checks them on orders.
type Gate struct {
	cfg       Config
	watchKeys keyring
	powKeys   keyring
	replay    *replayCache
	diff      *difficulty
	seed      maphash.Seed
	m         *metrics
}

// New builds a gate.
func New(p Params) (*Gate, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	wk, err := deriveKeys(purposeWatch, p.NodeSecrets)
	if err != nil {
		return nil, fmt.Errorf("access.node_secrets: %w", err)
	}
	pk, err := deriveKeys(purposePoW, p.NodeSecrets)
	if err != nil {
		return nil, fmt.Errorf("access.node_secrets: %w", err)
	}
	m, err := newMetrics(p.Registerer)
	if err != nil {
		return nil, err
	}
	g := &Gate{cfg: p.Config, watchKeys: wk, powKeys: pk,
		replay: newReplayCache(p.Config.ChallengeTTL, p.Config.ReplayCapacity),
		diff:   &difficulty{base: p.Config.PoWBaseBits, max: p.Config.PoWMaxBits, knee: p.Config.PoWKneePerSecond},
		seed:   maphash.MakeSeed(), m: m}
	m.difficulty.Set(float64(p.Config.PoWBaseBits))
	return g, nil
}

// Difficulty is the bits a challenge issued at now asks for; it sets the
// difficulty gauge.
func (g *Gate) Difficulty(now time.Time) int {
	b := g.diff.bits(now)
	g.m.difficulty.Set(float64(b))
	return b
}

// Refusal is an order refused for its proofs: a stable Code for clients,
// a message for the buyer, and for watch time the time still to watch.
type Refusal struct {
	Code   string
	Reason string // finer than Code: the metric's label
	Msg    string
	// Wait is the watch time left (Code watch_required).
	Wait time.Duration
	// Temporary: the same order may succeed in a moment (pow_busy).
	Temporary bool
}

func (r *Refusal) Error() string { return r.Msg }

// Stable refusal codes.
const (
	CodeWatchRequired = "watch_required"
	CodeWatchInvalid  = "watch_proof_invalid"
	CodePoWRequired   = "pow_required"
	CodePoWInvalid    = "pow_invalid"
	CodePoWReplayed   = "pow_replayed"
	CodePoWBusy       = "pow_busy"
)

// Order is what an order presents to the gate.
type Order struct {
	Stream string // the drop's stream
	Buyer  string
	// OrderID names the order (the same on its retries): a challenge is
	// spent on one order.
	OrderID    string
	WatchProof string
	PoW        string // "challenge.nonce"
}

// Check admits o under p at now, or returns a *Refusal.
func (g *Gate) Check(p Policy, o Order, now time.Time) error {
	if !p.On() {
		return nil
	}
	if p.WatchSeconds > 0 {
		if err := g.checkWatch(p.WatchSeconds, o, now); err != nil {
			return g.refuse(err)
		}
	}
	if p.ProofOfWork {
		g.diff.observe(now)
		if err := g.checkPoW(o, now); err != nil {
			return g.refuse(err)
		}
	}
	g.m.passed.Inc()
	return nil
}

func (g *Gate) refuse(r *Refusal) error {
	g.m.refusals.WithLabelValues(r.Reason).Inc()
	return r
}

func watchRequired(n int, left time.Duration, reason string) *Refusal {
	secs := int(math.Ceil(left.Seconds()))
	return &Refusal{Code: CodeWatchRequired, Reason: reason, Wait: left,
		Msg: fmt.Sprintf("watch the stream for %d s before buying: %d s left", n, secs)}
}

func (g *Gate) checkWatch(n int, o Order, now time.Time) *Refusal {
	need := time.Duration(n) * time.Second
	if o.WatchProof == "" {
		return watchRequired(n, need, "watch_missing")
	}
	watched, err := verifyWatch(g.watchKeys, o.WatchProof, o.Buyer, o.Stream, now)
	switch {
	case err == nil && watched < need:
		return watchRequired(n, need-watched, "watch_too_young")
	case err == nil:
		return nil
	case errors.Is(err, ErrWatchExpired):
		return &Refusal{Code: CodeWatchInvalid, Reason: "watch_expired", Msg: "watch proof expired: the page asks its edge for a fresh one"}
	case errors.Is(err, ErrWatchOtherBuyer):
		return &Refusal{Code: CodeWatchInvalid, Reason: "watch_other_buyer", Msg: "watch proof belongs to another buyer"}
	case errors.Is(err, ErrWatchOtherStream):
		return &Refusal{Code: CodeWatchInvalid, Reason: "watch_other_stream", Msg: "watch proof is for another stream than this drop's"}
	}
	return &Refusal{Code: CodeWatchInvalid, Reason: "watch_invalid", Msg: "watch proof is not valid"}
}

func (g *Gate) checkPoW(o Order, now time.Time) *Refusal {
	if o.PoW == "" {
		return &Refusal{Code: CodePoWRequired, Reason: "pow_missing", Msg: "this drop needs a proof of work: the page solves one before buying"}
	}
	err := g.verifyPoW(o.PoW, o.Buyer, maphash.String(g.seed, o.OrderID), now)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrPoWReplayed):
		return &Refusal{Code: CodePoWReplayed, Reason: "pow_replayed", Msg: "proof of work already used for another order: solve a new challenge"}
	case errors.Is(err, ErrPoWBusy):
		return &Refusal{Code: CodePoWBusy, Reason: "pow_busy", Msg: ErrPoWBusy.Error(), Temporary: true}
	case errors.Is(err, ErrPoWExpired):
		return &Refusal{Code: CodePoWInvalid, Reason: "pow_expired", Msg: "proof-of-work challenge expired: solve a new one"}
	case errors.Is(err, ErrPoWOtherBuyer):
		return &Refusal{Code: CodePoWInvalid, Reason: "pow_other_buyer", Msg: "proof-of-work challenge belongs to another buyer"}
	case errors.Is(err, ErrPoWTooEasy):
		return &Refusal{Code: CodePoWInvalid, Reason: "pow_too_easy", Msg: "proof-of-work challenge too easy for the current load: solve a new one"}
	case errors.Is(err, ErrPoWWrong):
		return &Refusal{Code: CodePoWInvalid, Reason: "pow_wrong", Msg: "proof-of-work solution is wrong"}
	}
	return &Refusal{Code: CodePoWInvalid, Reason: "pow_invalid", Msg: "proof-of-work solution is not valid"}
}

// ObserveSolve records the solve time a page reported with its order.
func (g *Gate) ObserveSolve(d time.Duration) {
	if d >= 0 && d <= time.Minute {
		g.m.solve.Observe(d.Seconds())
	}
}

// DenyWatch counts a watch proof request refused before the gate saw a
// session (no such session, claimed by another buyer, bad input).
func (g *Gate) DenyWatch(reason string) { g.m.denied.WithLabelValues(reason).Inc() }
