// Package giveawayhttp adapts giveaways to HTTP: the seller's routes at
// the origin (control token), the viewer's entry at the edge (buyer
// session, eligibility checked there) and the public read on both.
package giveawayhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// maxBody bounds a start body.
const maxBody = 8 << 10

// SellerAPI serves the origin's giveaway routes: start and draw need the
// control token; the read is public.
type SellerAPI struct {
	g     *giveaway.Giveaways
	token []byte
	guard *guard.Guard
	log   *slog.Logger
}

// NewSellerAPI adapts g to HTTP behind token (the console's control
// token); wrong tokens cost the client's budget in gd (nil: a guard of
// its own).
func NewSellerAPI(g *giveaway.Giveaways, token string, gd *guard.Guard, logger *slog.Logger) (*SellerAPI, error) {
	if g == nil || len(token) < checkouthttp.MinTokenLen {
		return nil, fmt.Errorf("giveaway http: the seller API needs giveaways and the control token (at least %d characters)", checkouthttp.MinTokenLen)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	gd, err := guard.OrDefault(gd, logger)
	if err != nil {
		return nil, err
	}
	return &SellerAPI{g: g, token: []byte(token), guard: gd, log: logger.With("component", "giveaway-http")}, nil
}

// Register adds POST /v1/giveaways, POST /v1/giveaways/{id}/draw and
// GET /v1/giveaways/{id}.
func (a *SellerAPI) Register(mux *http.ServeMux) {
	mux.Handle("POST /v1/giveaways", jsonhttp.GuardedBearer(a.token, a.guard, a.start))
	mux.Handle("POST /v1/giveaways/{id}/draw", jsonhttp.GuardedBearer(a.token, a.guard, a.draw))
	mux.HandleFunc("GET /v1/giveaways/{id}", func(w http.ResponseWriter, r *http.Request) { read(w, r, a.g, a.log) })
}

// StartBody is the body of POST /v1/giveaways.
type StartBody struct {
	ID     string `json:"id"`
	Stream string `json:"stream"`
	Rule   string `json:"rule"`
	Prize  struct {
		Name string `json:"name"`
	} `json:"prize"`
	// Fulfilment of the winner's order: "" (shipping) or "pickup".
	Fulfilment string `json:"fulfilment"`
}

func (a *SellerAPI) start(w http.ResponseWriter, r *http.Request) {
	var b StartBody
	if err := jsonhttp.DecodeStrict(r.Body, maxBody, &b); err != nil {
		fail(w, a.log, fmt.Errorf("%w: %w", giveaway.ErrInvalid, err))
		return
	}
	info, err := a.g.Start(r.Context(), giveaway.StartParams{ID: b.ID, Stream: b.Stream, Prize: b.Prize.Name, Rule: b.Rule,
		Fulfilment: b.Fulfilment})
	if err != nil {
		fail(w, a.log, err)
		return
	}
	jsonhttp.Write(w, http.StatusCreated, giveaway.View{Info: info, State: "open"})
}

func (a *SellerAPI) draw(w http.ResponseWriter, r *http.Request) {
	v, err := a.g.Draw(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, a.log, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, v)
}

// read answers GET /v1/giveaways/{id}, the public read: without the
// winner's order id (only the seller's draw answer names it).
func read(w http.ResponseWriter, r *http.Request, g *giveaway.Giveaways, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	v, err := g.Get(ctx, r.PathValue("id"))
	if err != nil {
		fail(w, log, err)
		return
	}
	v.Order = ""
	jsonhttp.Write(w, http.StatusOK, v)
}

// EntryError is the body of a refused entry: a stable code (not_eligible,
// giveaway_closed, not_found, session_required...) and, for not_eligible,
// why (not_watching, not_signed_in, no_purchase).
type EntryError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Why   string `json:"why,omitempty"`
}

func fail(w http.ResponseWriter, log *slog.Logger, err error) {
	var ref *giveaway.Refusal
	switch {
	case errors.As(err, &ref):
		jsonhttp.Write(w, http.StatusForbidden, EntryError{Error: err.Error(), Code: "not_eligible", Why: ref.Why})
	case errors.Is(err, giveaway.ErrInvalid), errors.Is(err, checkout.ErrInvalid):
		jsonhttp.Write(w, http.StatusBadRequest, EntryError{Error: err.Error(), Code: "invalid"})
	case errors.Is(err, giveaway.ErrNotFound):
		jsonhttp.Write(w, http.StatusNotFound, EntryError{Error: err.Error(), Code: "not_found"})
	case errors.Is(err, giveaway.ErrExists):
		jsonhttp.Write(w, http.StatusConflict, EntryError{Error: "a giveaway with this id exists", Code: "exists"})
	case errors.Is(err, giveaway.ErrClosed):
		jsonhttp.Write(w, http.StatusConflict, EntryError{Error: "the draw has taken place: entries are closed", Code: "giveaway_closed"})
	case errors.Is(err, giveaway.ErrNoEntrants):
		jsonhttp.Write(w, http.StatusConflict, EntryError{Error: "nobody has entered yet", Code: "no_entrants"})
	case errors.Is(err, context.DeadlineExceeded), checkout.ClassOf(err) == checkout.ClassUnavailable:
		jsonhttp.Error(w, log, http.StatusServiceUnavailable, errors.New("giveaways cannot be reached now: try again"))
	default:
		jsonhttp.Error(w, log, http.StatusInternalServerError, err)
	}
}
