package auctionhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// EdgeAPI serves buyers' bids and the live lot to viewers at an edge.
type EdgeAPI struct {
	edge     *auction.Edge
	sessions checkouthttp.Sessions
	logger   *slog.Logger
}

// NewEdgeAPI adapts e to HTTP; every bid presents a buyer session.
func NewEdgeAPI(e *auction.Edge, sessions checkouthttp.Sessions, logger *slog.Logger) (*EdgeAPI, error) {
	if e == nil || sessions == nil {
		return nil, errors.New("auction edge http: the auction edge and buyer sessions are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &EdgeAPI{edge: e, sessions: sessions, logger: logger.With("component", "auction-http")}, nil
}

// Register adds POST /v1/lots/{id}/bids, GET /v1/lots/{id} and GET
// /v1/lots/{id}/live (server-sent events).
func (a *EdgeAPI) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/lots/{id}/bids", a.bid)
	mux.HandleFunc("GET /v1/lots/{id}", a.lot)
	mux.HandleFunc("GET /v1/lots/{id}/live", a.live)
}

// BidBody is a bid's request body: exactly one of the two.
type BidBody struct {
	AmountCents int64 `json:"amount_cents,omitempty"`
	MaxCents    int64 `json:"max_cents,omitempty"`
	// Pay "wallet" holds the bid on the buyer's wallet (signed-in buyers).
	Pay string `json:"pay,omitempty"`
}

// BidAnswer is the answer to a bid: 201 accepted, 409 with code outbid,
// too_low, auction_over or not_started.
type BidAnswer struct {
	Result string          `json:"result"`
	Code   string          `json:"code,omitempty"`
	Error  string          `json:"error,omitempty"`
	Lot    *auction.Update `json:"lot,omitempty"`
	// Leading: the bidder leads now.
	Leading bool  `json:"leading"`
	AtMS    int64 `json:"at_ms"`
	// BalanceCents and Currency, with code insufficient_balance, are the
	// buyer's wallet balance when the bid was refused.
	BalanceCents *int64 `json:"balance_cents,omitempty"`
	Currency     string `json:"currency,omitempty"`
}

// writeWait bounds one write of the live stream to a slow viewer.
const writeWait = 10 * time.Second

// maxKey bounds an Idempotency-Key.
const maxKey = 128

func (a *EdgeAPI) bid(w http.ResponseWriter, r *http.Request) {
	tok, _ := jsonhttp.BearerToken(r)
	sess, err := a.sessions.Verify(tok)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop buyer"`)
		jsonhttp.Write(w, http.StatusUnauthorized, BidAnswer{Code: "session_required", Error: "sign in to bid: " + err.Error()})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" || len(key) > maxKey {
		jsonhttp.Write(w, http.StatusBadRequest, BidAnswer{Code: "bad_request", Error: fmt.Sprintf("Idempotency-Key: required, at most %d bytes", maxKey)})
		return
	}
	var b BidBody
	if err := jsonhttp.DecodeStrict(r.Body, maxBody, &b); err != nil {
		jsonhttp.Write(w, http.StatusBadRequest, BidAnswer{Code: "bad_request", Error: err.Error()})
		return
	}
	if b.Pay == checkout.PayWallet && sess.Kind != buyer.KindEmail {
		a.edge.RefusedGuest()
		jsonhttp.Write(w, http.StatusForbidden, BidAnswer{Code: checkouthttp.WalletEmailRequired, Error: checkouthttp.WalletGuestMessage})
		return
	}
	id := r.PathValue("id")
	ans, err := a.edge.Bid(r.Context(), auction.BidRequest{Lot: id, Key: key, Pay: b.Pay,
		Bid: auction.Bid{Buyer: sess.Buyer, AmountCents: b.AmountCents, MaxCents: b.MaxCents}})
	if pr, ok := errors.AsType[*checkout.PaymentRefusal](err); ok { // the wallet does not cover the bid
		bal := pr.BalanceCents
		jsonhttp.Write(w, http.StatusPaymentRequired, BidAnswer{Code: pr.Code, Error: pr.Error(), BalanceCents: &bal, Currency: pr.Currency})
		return
	}
	switch {
	case errors.Is(err, auction.ErrInvalid):
		jsonhttp.Write(w, http.StatusBadRequest, BidAnswer{Code: "bad_request", Error: err.Error()})
		return
	case errors.Is(err, auction.ErrNotFound):
		jsonhttp.Write(w, http.StatusNotFound, BidAnswer{Code: "not_found", Error: err.Error()})
		return
	case err != nil:
		w.Header().Set("Retry-After", "1")
		jsonhttp.Write(w, http.StatusServiceUnavailable, BidAnswer{Code: "unavailable", Error: "the auction store did not answer; retry with the same Idempotency-Key"})
		a.logger.Warn("bid failed", "lot", id, "err", err)
		return
	}
	def, _ := a.edge.Def(r.Context(), id) // cached: the card's figures need the lot's rules
	st := ans.State
	u := auction.UpdateOf(auction.Snapshot{Lot: def, State: st}, ans.AtMS)
	out := BidAnswer{Result: string(ans.Result), Lot: &u, Leading: st.Leader == sess.Buyer, AtMS: ans.AtMS}
	if ans.Result == auction.Accepted {
		jsonhttp.Write(w, http.StatusCreated, out)
		return
	}
	out.Code = string(ans.Result)
	out.Error = map[auction.Result]string{
		auction.Outbid:      "outbid: another bidder's maximum is higher",
		auction.TooLow:      "too low: bid at least the minimum",
		auction.AuctionOver: "the auction is over",
		auction.NotStarted:  "the auction has not started",
	}[ans.Result]
	jsonhttp.Write(w, http.StatusConflict, out)
}

func (a *EdgeAPI) lot(w http.ResponseWriter, r *http.Request) {
	u, err := a.edge.Lot(r.Context(), r.PathValue("id"))
	if err != nil {
		writeStoreError(w, a.logger, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, u)
}

// live streams the lot's updates as server-sent events ("data: {json}"),
// the current state first.
func (a *EdgeAPI) live(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		jsonhttp.Error(w, a.logger, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	id := r.PathValue("id")
	updates, stop := a.edge.Watch(id)
	defer stop()
	u, err := a.edge.Lot(r.Context(), id)
	if err != nil {
		writeStoreError(w, a.logger, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	// The stream outlives the server's write timeout: each write gets its own.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // a read deadline passing would cancel the request
	send := func(u auction.Update) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
		b, _ := json.Marshal(u)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	if !send(u) {
		return
	}
	last := u.Seq
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			fl.Flush()
		case u := <-updates:
			if u.Seq <= last {
				continue
			}
			last = u.Seq
			if !send(u) {
				return
			}
		}
	}
}
