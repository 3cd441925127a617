package checkouthttp

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/proof"
)

// Headers an order of a gated drop carries its proofs in.
const (
	// WatchProofHeader: the watch proof the buyer's edge signed
	// (GET /v1/watch-proof).
	WatchProofHeader = "Watch-Proof"
	// PoWHeader: a solved challenge, "challenge.nonce" (GET /v1/pow-challenge).
	PoWHeader = "Proof-Of-Work"
	// PoWSolveHeader: how long the page took to solve it, in ms (a metric).
	PoWSolveHeader = "Proof-Of-Work-Solve-Ms"
)

// GateRefusal is the body of an order refused for its proofs (403; 503 when
// it may pass in a moment): a stable code (proof.Code...), the reason in
// words, and for watch time the seconds still to watch.
type GateRefusal struct {
	Error        string `json:"error"`
	Code         string `json:"code"`
	SecondsLeft  int    `json:"seconds_left,omitempty"`
	RetryAfterMs int64  `json:"retry_after_ms,omitempty"`
}

// SetGate makes the API check the proofs of every order of a gated drop
// with g before the order is placed. Without it, gates are not enforced.
func (a *EdgeAPI) SetGate(g *proof.Gate) { a.gate = g }

// admit asks the gate whether buyer may order from drop; on false the
// refusal has been answered. buyer is whoever the handler established the
// buyer to be.
func (a *EdgeAPI) admit(w http.ResponseWriter, r *http.Request, drop, buyer string) bool {
	key := r.Header.Get("Idempotency-Key")
	if a.gate == nil || !checkout.ValidID(drop) || !checkout.ValidIdempotencyKey(key) {
		return true // no gate; or bad input PlaceOrder refuses with its reason
	}
	d, err := a.edge.Drop(r.Context(), drop)
	if err != nil {
		a.writeOrderError(w, err)
		return false
	}
	p := proof.Policy{WatchSeconds: d.Gate.WatchSeconds, ProofOfWork: d.Gate.ProofOfWork}
	if !p.On() {
		return true
	}
	err = a.gate.Check(p, proof.Order{Stream: d.Stream, Buyer: buyer, OrderID: checkout.OrderID(drop, buyer, key),
		WatchProof: r.Header.Get(WatchProofHeader), PoW: r.Header.Get(PoWHeader)}, time.Now())
	var ref *proof.Refusal
	switch {
	case err == nil:
		if ms, err := strconv.Atoi(r.Header.Get(PoWSolveHeader)); err == nil && p.ProofOfWork {
			a.gate.ObserveSolve(time.Duration(ms) * time.Millisecond)
		}
		return true
	case errors.As(err, &ref):
		body := GateRefusal{Error: ref.Msg, Code: ref.Code}
		code := http.StatusForbidden
		if ref.Code == proof.CodeWatchRequired {
			body.SecondsLeft = int(math.Ceil(ref.Wait.Seconds()))
		}
		if ref.Temporary {
			code, body.RetryAfterMs = http.StatusServiceUnavailable, 1000
			w.Header().Set("Retry-After", "1")
		}
		writeJSON(w, code, body)
	default:
		writeError(w, a.logger, err)
	}
	return false
}
