package giveawayhttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/proof"
)

// WatchProofs verify a watch proof's signature (a *proof.Gate).
type WatchProofs interface {
	ParseWatch(tok string) (proof.WatchClaims, error)
}

// BuyerOrders lists a buyer's orders (a *checkout.Edge: the store's and
// the ones it accepted and has not shipped yet).
type BuyerOrders interface {
	BuyerOrders(ctx context.Context, buyer string) ([]checkout.Order, error)
}

// EntryParams build an EntryAPI.
type EntryParams struct {
	Giveaways *giveaway.Giveaways
	Sessions  checkouthttp.Sessions
	Watch     WatchProofs
	Orders    BuyerOrders
	Now       func() time.Time
	Logger    *slog.Logger
}

// EntryAPI serves an edge's giveaway routes: a viewer's one-tap entry and
// the public read.
type EntryAPI struct {
	p     EntryParams
	log   *slog.Logger
	cache latestCache // latest.go
}

// NewEntryAPI builds the edge's routes.
func NewEntryAPI(p EntryParams) (*EntryAPI, error) {
	if p.Giveaways == nil || p.Sessions == nil || p.Watch == nil || p.Orders == nil {
		return nil, errors.New("giveaway http: the entry API needs giveaways, sessions, watch proofs and orders")
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	return &EntryAPI{p: p, log: p.Logger.With("component", "giveaway-http")}, nil
}

// Register adds POST /v1/giveaways/{id}/entries, GET /v1/giveaways/{id}
// and GET /v1/streams/{stream}/giveaway (latest.go).
func (a *EntryAPI) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/giveaways/{id}/entries", a.enter)
	mux.HandleFunc("GET /v1/giveaways/{id}", func(w http.ResponseWriter, r *http.Request) { read(w, r, a.p.Giveaways, a.log) })
	mux.HandleFunc("GET /v1/streams/{stream}/giveaway", a.latest)
}

// Entered answers an entry.
type Entered struct {
	Giveaway string `json:"giveaway"`
	Buyer    string `json:"buyer"`
	// New is false when the buyer had entered already.
	New        bool   `json:"new"`
	Commitment string `json:"commitment"`
}

// enter enters the buyer of the request's session; what the rule reads
// comes from the session, the Watch-Proof header and the buyer's orders,
// never from the body.
func (a *EntryAPI) enter(w http.ResponseWriter, r *http.Request) {
	tok, _ := jsonhttp.BearerToken(r)
	sess, err := a.p.Sessions.Verify(tok)
	if err != nil {
		code := "session_invalid"
		var ref *buyer.Refusal
		if errors.As(err, &ref) && ref.Reason == "missing" {
			code = "session_required"
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop buyer"`)
		jsonhttp.Write(w, http.StatusUnauthorized, EntryError{Error: err.Error(), Code: code})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	id := r.PathValue("id")
	v, err := a.p.Giveaways.Get(ctx, id)
	if err != nil {
		fail(w, a.log, err)
		return
	}
	e := giveaway.Entrant{Buyer: sess.Buyer, Verified: sess.Kind == buyer.KindEmail,
		Present: a.watching(r.Header.Get(checkouthttp.WatchProofHeader), sess.Buyer, v.Stream)}
	if v.Rule == giveaway.RuleBuyers && e.Present && e.Verified {
		if e.Bought, err = a.bought(ctx, sess.Buyer); err != nil {
			fail(w, a.log, err)
			return
		}
	}
	added, err := a.p.Giveaways.Enter(ctx, id, e)
	if err != nil {
		fail(w, a.log, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, Entered{Giveaway: id, Buyer: sess.Buyer, New: added, Commitment: v.Commitment})
}

// watching reports whether tok is a valid, unexpired watch proof of buyer
// on stream: the buyer's media session is receiving it now.
func (a *EntryAPI) watching(tok, buyer, stream string) bool {
	if tok == "" {
		return false
	}
	c, err := a.p.Watch.ParseWatch(tok)
	return err == nil && c.Buyer == buyer && c.Stream == stream && a.p.Now().Before(c.Expires)
}

// bought reports whether buyer has an order that stands (not cancelled,
// refunded, or a giveaway's prize).
func (a *EntryAPI) bought(ctx context.Context, buyer string) (bool, error) {
	orders, err := a.p.Orders.BuyerOrders(ctx, buyer)
	if err != nil {
		return false, err
	}
	for _, o := range orders {
		if o.Status != checkout.StatusCancelled && o.Status != checkout.StatusRefunded && !giveaway.IsOrderDrop(o.Drop) {
			return true, nil
		}
	}
	return false, nil
}
