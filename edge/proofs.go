package edge

import (
	"errors"
	"net/http"
	"time"

	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/proof"
	"github.com/livedrop/livedrop/internal/whep"
)

// Proofs configure the proofs an edge hands its viewers for gated drops.
type Proofs struct {
	Gate *proof.Gate
	// BuyerOf establishes who asks (the same as the order handler does);
	// an error is answered 400 with its message.
	BuyerOf func(r *http.Request) (string, error)
}

// WatchProof is the answer to GET /v1/watch-proof: the signed proof and
// what it says, for the page to show.
type WatchProof struct {
	Proof     string    `json:"proof"`
	Stream    string    `json:"stream"`
	Session   string    `json:"session"`
	Since     time.Time `json:"since"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	WatchedMs int64     `json:"watched_ms"`
}

// PoWChallenge is the answer to GET /v1/pow-challenge: find a nonce with
// sha256(seed || nonce as 8 bytes big-endian) starting with Bits zero bits,
// then order with the header Proof-Of-Work: challenge.nonce.
type PoWChallenge struct {
	Challenge string    `json:"challenge"`
	Seed      string    `json:"seed"` // hex, 16 bytes
	Bits      int       `json:"bits"`
	ExpiresAt time.Time `json:"expires_at"`
}

// proofError is a refused proof request.
type proofError struct {
	Error        string `json:"error"`
	Code         string `json:"code"`
	RetryAfterMs int64  `json:"retry_after_ms,omitempty"`
}

func (e *Edge) registerProofs(mux *http.ServeMux, p Proofs) {
	mux.HandleFunc("GET /v1/watch-proof", func(w http.ResponseWriter, r *http.Request) { e.watchProof(w, r, p) })
	mux.HandleFunc("GET /v1/pow-challenge", func(w http.ResponseWriter, r *http.Request) { e.powChallenge(w, r, p) })
}

func writeProof(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	jsonhttp.Write(w, code, v)
}

// watchProof signs a proof that the asking buyer's WHEP session on this
// edge (?session=, the last part of its Location) has been receiving its
// stream since when, or since the start of a valid earlier proof of the
// same buyer and stream it presents (Watch-Proof; a page that moved here).
// The first buyer to ask about a session owns it.
func (e *Edge) watchProof(w http.ResponseWriter, r *http.Request, p Proofs) {
	buyer, err := p.BuyerOf(r)
	if err != nil {
		p.Gate.DenyWatch("invalid")
		writeProof(w, http.StatusBadRequest, proofError{Error: err.Error(), Code: "invalid"})
		return
	}
	id := r.URL.Query().Get("session")
	if id == "" || len(id) > 64 {
		p.Gate.DenyWatch("invalid")
		writeProof(w, http.StatusBadRequest, proofError{Error: "session: the id of your WHEP session (the end of its Location) is required", Code: "invalid"})
		return
	}
	info, err := e.whep.Claim(id, buyer)
	switch {
	case errors.Is(err, whep.ErrNoSession):
		p.Gate.DenyWatch("no_session")
		writeProof(w, http.StatusNotFound, proofError{Error: "no media session " + id + " on this edge: watch the stream here first", Code: "no_session"})
		return
	case errors.Is(err, whep.ErrClaimed):
		p.Gate.DenyWatch("session_claimed")
		writeProof(w, http.StatusForbidden, proofError{Error: "this media session vouches for another buyer", Code: "session_claimed"})
		return
	case err != nil:
		writeProof(w, http.StatusInternalServerError, proofError{Error: "internal error", Code: "internal"})
		return
	}
	now := time.Now()
	state := proof.SessionState{Stream: info.Stream, Connected: info.Connected, Receiving: info.Receiving, LastReport: info.LastReport}
	// A page that moved here from a draining sibling shows its last proof
	// (Watch-Proof): its watch time goes on from there.
	if since, ok := p.Gate.CarriedSince(r.Header.Get("Watch-Proof"), buyer, info.Stream, now); ok && !state.Receiving.IsZero() && since.Before(state.Receiving) {
		state.Receiving = since
	}
	c, tok, err := p.Gate.IssueWatch(buyer, id, state, now)
	if err != nil {
		writeProof(w, http.StatusConflict, proofError{Error: err.Error(), Code: "not_receiving", RetryAfterMs: 1000})
		return
	}
	writeProof(w, http.StatusOK, WatchProof{Proof: tok, Stream: c.Stream, Session: id, Since: c.Since, IssuedAt: c.IssuedAt,
		ExpiresAt: c.Expires, WatchedMs: c.Watched().Milliseconds()})
}

// powChallenge hands the asking buyer a challenge at this edge's current
// difficulty.
func (e *Edge) powChallenge(w http.ResponseWriter, r *http.Request, p Proofs) {
	buyer, err := p.BuyerOf(r)
	if err != nil {
		writeProof(w, http.StatusBadRequest, proofError{Error: err.Error(), Code: "invalid"})
		return
	}
	c, err := p.Gate.IssueChallenge(buyer, time.Now())
	if err != nil {
		writeProof(w, http.StatusInternalServerError, proofError{Error: "internal error", Code: "internal"})
		return
	}
	writeProof(w, http.StatusOK, PoWChallenge{Challenge: c.Token, Seed: c.SeedHex(), Bits: c.Bits, ExpiresAt: c.Expires})
}
