package checkouthttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// EdgeAPI serves viewers' orders on an edge.
type EdgeAPI struct {
	edge   *checkout.Edge
	logger *slog.Logger
}

// NewEdgeAPI adapts edge to HTTP.
func NewEdgeAPI(edge *checkout.Edge, logger *slog.Logger) *EdgeAPI {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &EdgeAPI{edge: edge, logger: logger.With("component", "checkout-http")}
}

// Register adds the viewer routes and the public totals read
// (GET /v1/drops/{drop}). When the control API shares the mux, use
// RegisterOrders instead: the control API owns GET /v1/drops/{id} there.
func (a *EdgeAPI) Register(mux *http.ServeMux) {
	a.RegisterOrders(mux)
	mux.HandleFunc("GET /v1/drops/{drop}", a.totals)
}

// RegisterOrders adds POST /v1/drops/{drop}/orders and GET /v1/orders/{id}.
func (a *EdgeAPI) RegisterOrders(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/drops/{drop}/orders", a.placeOrder)
	mux.HandleFunc("GET /v1/orders/{id}", a.order)
}

func (a *EdgeAPI) placeOrder(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	b, err := DecodeOrder(r.Body)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	o, err := a.edge.PlaceOrder(r.Context(), checkout.OrderRequest{
		Drop: r.PathValue("drop"), SKU: b.SKU, Qty: b.Qty, Buyer: b.Buyer,
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
	})
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	w.Header().Set("Location", "/v1/orders/"+o.ID)
	writeJSON(w, http.StatusCreated, o)
}

func (a *EdgeAPI) order(w http.ResponseWriter, r *http.Request) {
	o, err := a.edge.Order(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (a *EdgeAPI) totals(w http.ResponseWriter, r *http.Request) {
	t, err := a.edge.Totals(r.Context(), r.PathValue("drop"))
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// ControlAPI serves the seller's control routes on the origin; every route
// requires Authorization: Bearer <control_token>.
type ControlAPI struct {
	ctl    *checkout.Control
	token  []byte
	logger *slog.Logger
}

// NewControlAPI adapts ctl to HTTP with its control token.
func NewControlAPI(ctl *checkout.Control, logger *slog.Logger) *ControlAPI {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ControlAPI{ctl: ctl, token: []byte(ctl.ControlToken()), logger: logger.With("component", "checkout-control-http")}
}

// Register adds POST /v1/drops, POST /v1/drops/{id}/open, POST
// /v1/drops/{id}/close and GET /v1/drops/{id}.
func (a *ControlAPI) Register(mux *http.ServeMux) {
	mux.Handle("POST /v1/drops", a.auth(a.create))
	mux.Handle("POST /v1/drops/{id}/open", a.auth(a.open))
	mux.Handle("POST /v1/drops/{id}/close", a.auth(a.close))
	mux.Handle("GET /v1/drops/{id}", a.auth(a.totals))
}

func (a *ControlAPI) auth(next http.HandlerFunc) http.Handler { return jsonhttp.Bearer(a.token, next) }

func (a *ControlAPI) create(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxDropBodyBytes)
	d, err := DecodeDrop(r.Body)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	d, err = a.ctl.CreateDrop(r.Context(), d)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	w.Header().Set("Location", "/v1/drops/"+d.ID)
	writeJSON(w, http.StatusCreated, d)
}

func (a *ControlAPI) open(w http.ResponseWriter, r *http.Request)  { a.state(w, r, a.ctl.Open) }
func (a *ControlAPI) close(w http.ResponseWriter, r *http.Request) { a.state(w, r, a.ctl.Close) }

func (a *ControlAPI) state(w http.ResponseWriter, r *http.Request, f func(context.Context, string) error) {
	id := r.PathValue("id")
	if err := f(r.Context(), id); err != nil {
		writeError(w, a.logger, err)
		return
	}
	t, err := a.ctl.Totals(r.Context(), id)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *ControlAPI) totals(w http.ResponseWriter, r *http.Request) {
	t, err := a.ctl.Totals(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// statusOf maps an error to its status code: the one place that does.
func statusOf(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, jsonhttp.ErrTooLarge) {
		return http.StatusBadRequest
	}
	switch checkout.ClassOf(err) {
	case checkout.ClassInvalid:
		return http.StatusBadRequest
	case checkout.ClassNotFound:
		return http.StatusNotFound
	case checkout.ClassConflict, checkout.ClassSoldOut:
		return http.StatusConflict
	case checkout.ClassNotOpen:
		return http.StatusForbidden
	case checkout.ClassLimit:
		return http.StatusUnprocessableEntity
	case checkout.ClassRateLimited:
		return http.StatusTooManyRequests
	case checkout.ClassUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, logger *slog.Logger, err error) {
	jsonhttp.Error(w, logger, statusOf(err), err)
}

func writeJSON(w http.ResponseWriter, code int, v any) { jsonhttp.Write(w, code, v) }
