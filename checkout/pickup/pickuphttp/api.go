// Package pickuphttp adapts the pickup desks to HTTP: the origin's routes a
// desk page calls with the seller's control token, and the edge's read of
// an order's pickup code for its buyer.
package pickuphttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// maxSyncBody bounds a sync body (MaxSyncItems collections).
const maxSyncBody = 128 << 10

// DeskAPI serves the origin's pickup routes; each needs the control token.
type DeskAPI struct {
	desks *pickup.Desks
	token []byte
	guard *guard.Guard
	log   *slog.Logger
}

// NewDeskAPI adapts desks to HTTP behind token (the console's control
// token); wrong tokens cost the client's budget in g (nil: a guard of its own).
func NewDeskAPI(desks *pickup.Desks, token string, g *guard.Guard, logger *slog.Logger) (*DeskAPI, error) {
	if desks == nil || len(token) < checkouthttp.MinTokenLen {
		return nil, fmt.Errorf("pickup http: the desk API needs desks and the control token (at least %d characters)", checkouthttp.MinTokenLen)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g, err := guard.OrDefault(g, logger)
	if err != nil {
		return nil, err
	}
	return &DeskAPI{desks: desks, token: []byte(token), guard: g, log: logger.With("component", "pickup-http")}, nil
}

// Register adds GET /v1/pickups?day=, POST /v1/pickups:sync and
// GET /v1/pickups/{code}.
func (a *DeskAPI) Register(mux *http.ServeMux) {
	mux.Handle("GET /v1/pickups", a.auth(a.list))
	mux.Handle("POST /v1/pickups:sync", a.auth(a.sync))
	mux.Handle("GET /v1/pickups/{code}", a.auth(a.lookup))
}

func (a *DeskAPI) auth(next http.HandlerFunc) http.Handler {
	return jsonhttp.GuardedBearer(a.token, a.guard, next)
}

func (a *DeskAPI) list(w http.ResponseWriter, r *http.Request) {
	day, err := a.desks.ParseDay(r.URL.Query().Get("day"))
	if err != nil {
		a.fail(w, err)
		return
	}
	l, err := a.desks.List(r.Context(), day)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, l)
}

// SyncBody is the body of POST /v1/pickups:sync.
type SyncBody struct {
	Collections []pickup.Collection `json:"collections"`
}

// SyncAnswer answers a sync, one result per collection, in order.
type SyncAnswer struct {
	Results []pickup.SyncResult `json:"results"`
}

func (a *DeskAPI) sync(w http.ResponseWriter, r *http.Request) {
	var b SyncBody
	if err := jsonhttp.DecodeStrict(r.Body, maxSyncBody, &b); err != nil {
		a.fail(w, fmt.Errorf("%w: %w", pickup.ErrInvalid, err))
		return
	}
	for i := range b.Collections {
		b.Collections[i].Order = "" // the origin names the order from the code
	}
	res, err := a.desks.Sync(r.Context(), b.Collections)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, SyncAnswer{Results: res})
}

func (a *DeskAPI) lookup(w http.ResponseWriter, r *http.Request) {
	it, err := a.desks.Lookup(r.Context(), r.PathValue("code"))
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, it)
}

func (a *DeskAPI) fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, pickup.ErrInvalid), errors.Is(err, checkout.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, pickup.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded), checkout.ClassOf(err) == checkout.ClassUnavailable:
		code = http.StatusServiceUnavailable
	}
	jsonhttp.Error(w, a.log, code, err)
}

// OrderReader reads an order by id (a *checkout.Edge).
type OrderReader interface {
	Order(ctx context.Context, id string) (checkout.Order, error)
}

// TokenChecker says whether tok reads order id (checkouthttp.OrderTokens).
type TokenChecker interface {
	Valid(id, tok string) bool
}

// CodeAPI serves an order's pickup code to whoever holds its order token,
// on an edge: GET /v1/orders/{id}/pickup and its QR, .../pickup.png.
type CodeAPI struct {
	orders OrderReader
	tokens TokenChecker
	codes  *pickup.Codes
	log    *slog.Logger
}

// NewCodeAPI builds the edge's pickup code routes.
func NewCodeAPI(orders OrderReader, tokens TokenChecker, codes *pickup.Codes, logger *slog.Logger) (*CodeAPI, error) {
	if orders == nil || tokens == nil || codes == nil {
		return nil, errors.New("pickup http: the code API needs orders, order tokens and codes")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &CodeAPI{orders: orders, tokens: tokens, codes: codes, log: logger.With("component", "pickup-http")}, nil
}

// Register adds GET /v1/orders/{id}/pickup and GET /v1/orders/{id}/pickup.png.
func (a *CodeAPI) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/orders/{id}/pickup", a.code)
	mux.HandleFunc("GET /v1/orders/{id}/pickup.png", a.qr)
}

// PickupCode is the body of GET /v1/orders/{id}/pickup.
type PickupCode struct {
	Order   string `json:"order"`
	Code    string `json:"code"`
	Display string `json:"display"`
	// QR is the URL of the code's QR image (with the order token).
	QR string `json:"qr"`
}

// pickupOrder reads the request's order if its token reads it and it is
// for pickup; otherwise it answers and reports false.
func (a *CodeAPI) pickupOrder(w http.ResponseWriter, r *http.Request) (checkout.Order, string, bool) {
	id, tok := r.PathValue("id"), r.URL.Query().Get("token")
	if tok == "" || !a.tokens.Valid(id, tok) {
		jsonhttp.Write(w, http.StatusNotFound, jsonhttp.ErrorBody{Error: "no order with this id and token"})
		return checkout.Order{}, "", false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	o, err := a.orders.Order(ctx, id)
	switch {
	case errors.Is(err, checkout.ErrNotFound):
		jsonhttp.Write(w, http.StatusNotFound, jsonhttp.ErrorBody{Error: "no order with this id and token"})
		return checkout.Order{}, "", false
	case err != nil:
		jsonhttp.Error(w, a.log, http.StatusServiceUnavailable, errors.New("the order cannot be read now: try again"))
		return checkout.Order{}, "", false
	case o.Fulfilment != checkout.FulfilmentPickup:
		jsonhttp.Write(w, http.StatusNotFound, jsonhttp.ErrorBody{Error: "this order is not for pickup"})
		return checkout.Order{}, "", false
	}
	return o, tok, true
}

func (a *CodeAPI) code(w http.ResponseWriter, r *http.Request) {
	o, tok, ok := a.pickupOrder(w, r)
	if !ok {
		return
	}
	c := a.codes.Code(o.ID)
	jsonhttp.Write(w, http.StatusOK, PickupCode{Order: o.ID, Code: c, Display: pickup.Display(c),
		QR: "/v1/orders/" + o.ID + "/pickup.png?token=" + tok})
}

func (a *CodeAPI) qr(w http.ResponseWriter, r *http.Request) {
	o, _, ok := a.pickupOrder(w, r)
	if !ok {
		return
	}
	png, err := qrcode.Encode(a.codes.Code(o.ID), qrcode.Medium, 320)
	if err != nil {
		jsonhttp.Error(w, a.log, http.StatusInternalServerError, fmt.Errorf("qr code: %w", err))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=86400")
	_, _ = w.Write(png)
}
