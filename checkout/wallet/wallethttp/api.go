// Package wallethttp is the HTTP adapter of wallets: a buyer's top-ups and
// statement at the edge, the seller's wallet liability at the origin.
package wallethttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/checkout/wallet"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// MaxBodyBytes bounds a top-up body.
const MaxBodyBytes = 1 << 10

// Sessions verifies a buyer's session token (a *buyer.Sessions).
type Sessions interface {
	Verify(token string) (buyer.Session, error)
}

// TopUpBody is the JSON body of POST /v1/me/wallet/topups.
type TopUpBody struct {
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

// DecodeTopUp reads a top-up body and checks its fields; errors wrap
// checkout.ErrInvalid.
func DecodeTopUp(r io.Reader) (TopUpBody, error) {
	var b TopUpBody
	if err := jsonhttp.DecodeStrict(r, MaxBodyBytes, &b); err != nil {
		return TopUpBody{}, fmt.Errorf("%w: %w", checkout.ErrInvalid, err)
	}
	switch {
	case b.AmountCents < 1 || b.AmountCents > wallet.MaxTopUpCents:
		return TopUpBody{}, fmt.Errorf("%w: amount_cents must be 1-%d", checkout.ErrInvalid, wallet.MaxTopUpCents)
	case !wallet.ValidCurrency(b.Currency):
		return TopUpBody{}, fmt.Errorf("%w: currency must be 3 capital letters (ISO 4217)", checkout.ErrInvalid)
	}
	return b, nil
}

// TopUpAnswer is the answer to a top-up: its ledger entry and the wallet.
type TopUpAnswer struct {
	Entry  wallet.Entry     `json:"entry"`
	Wallet wallet.Statement `json:"wallet"`
}

// EdgeAPI serves a buyer's own wallet.
type EdgeAPI struct {
	wallets  *wallet.Wallets
	sessions Sessions
	timeout  time.Duration
	logger   *slog.Logger
}

// NewEdgeAPI serves wallets to the buyers of sessions; each call to the
// store is bounded by timeout.
func NewEdgeAPI(w *wallet.Wallets, sessions Sessions, timeout time.Duration, logger *slog.Logger) *EdgeAPI {
	return &EdgeAPI{wallets: w, sessions: sessions, timeout: timeout, logger: logger.With("component", "wallet-http")}
}

// Register adds GET /v1/me/wallet and POST /v1/me/wallet/topups.
func (a *EdgeAPI) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/me/wallet", a.statement)
	mux.HandleFunc("POST /v1/me/wallet/topups", a.topUp)
}

func (a *EdgeAPI) session(w http.ResponseWriter, r *http.Request) (buyer.Session, bool) {
	tok, _ := jsonhttp.BearerToken(r)
	s, err := a.sessions.Verify(tok)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop buyer"`)
		jsonhttp.Write(w, http.StatusUnauthorized, jsonhttp.ErrorBody{Error: err.Error()})
		return buyer.Session{}, false
	}
	if s.Kind != buyer.KindEmail {
		// Only a buyer whose email is verified keeps money here: a guest's
		// wallet would be lost with its session.
		a.wallets.RefusedGuest()
		jsonhttp.Write(w, http.StatusForbidden, checkouthttp.OrderError{Code: checkouthttp.WalletEmailRequired, Error: checkouthttp.WalletGuestMessage})
		return buyer.Session{}, false
	}
	return s, true
}

func (a *EdgeAPI) statement(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.session(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	st, err := a.wallets.Statement(ctx, sess.Buyer)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, st)
}

func (a *EdgeAPI) topUp(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.session(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	b, err := DecodeTopUp(r.Body)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	e, err := a.wallets.TopUp(ctx, sess.Buyer, r.Header.Get("Idempotency-Key"), b.AmountCents, b.Currency)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	st, err := a.wallets.Statement(ctx, sess.Buyer)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	jsonhttp.Write(w, http.StatusCreated, TopUpAnswer{Entry: e, Wallet: st})
}

// ControlAPI serves the seller's view of wallets (bearer token).
type ControlAPI struct {
	store   wallet.Store
	token   []byte
	guard   *guard.Guard
	timeout time.Duration
	logger  *slog.Logger
}

// NewControlAPI serves store's liability to holders of token.
func NewControlAPI(store wallet.Store, token string, g *guard.Guard, timeout time.Duration, logger *slog.Logger) *ControlAPI {
	return &ControlAPI{store: store, token: []byte(token), guard: g, timeout: timeout, logger: logger.With("component", "wallet-http")}
}

// Liability is the answer of GET /v1/wallet/liability.
type Liability struct {
	// LiabilityCents is the sum of buyers' balances per currency.
	LiabilityCents map[string]int64 `json:"liability_cents"`
}

// Register adds GET /v1/wallet/liability.
func (a *ControlAPI) Register(mux *http.ServeMux) {
	mux.Handle("GET /v1/wallet/liability", jsonhttp.GuardedBearer(a.token, a.guard, a.liability))
}

func (a *ControlAPI) liability(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	l, err := a.store.Liability(ctx)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, Liability{LiabilityCents: l})
}

// writeError maps wallet and checkout errors to their status, in one place.
func writeError(w http.ResponseWriter, logger *slog.Logger, err error) {
	code := http.StatusInternalServerError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || errors.Is(err, jsonhttp.ErrTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, checkout.ErrPaymentDeclined):
		code = http.StatusPaymentRequired
	default:
		switch checkout.ClassOf(err) {
		case checkout.ClassInvalid:
			code = http.StatusBadRequest
		case checkout.ClassNotFound:
			code = http.StatusNotFound
		case checkout.ClassConflict:
			code = http.StatusConflict
		case checkout.ClassUnavailable:
			code = http.StatusServiceUnavailable
		}
	}
	jsonhttp.Error(w, logger, code, err)
}
