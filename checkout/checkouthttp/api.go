package checkouthttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/dropphoto"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/proof"
)

// EdgeAPI serves viewers' orders on an edge.
type EdgeAPI struct {
	edge     *checkout.Edge
	tokens   *OrderTokens
	gate     *proof.Gate // gate.go; nil: gates not enforced
	sessions Sessions
	orders   BuyerOrders
	logger   *slog.Logger
	placed   func(checkout.Order) // placed.go; nil: none
}

// Sessions verifies a buyer's session token (a *buyer.Sessions).
type Sessions interface {
	Verify(token string) (buyer.Session, error)
}

// BuyerOrders lists one buyer's orders, for GET /v1/me/orders.
type BuyerOrders interface {
	BuyerOrders(ctx context.Context, buyer string) ([]checkout.Order, error)
}

// EdgeParams build an EdgeAPI.
type EdgeParams struct {
	Edge *checkout.Edge
	// Tokens sign the order tokens returned with each order and required
	// to read it back.
	Tokens *OrderTokens
	// Sessions verify the buyer session every order must present.
	Sessions Sessions
	// Orders lists a buyer's own orders (nil: GET /v1/me/orders answers 501).
	Orders BuyerOrders
	Logger *slog.Logger
}

// NewEdgeAPI adapts p.Edge to HTTP.
func NewEdgeAPI(p EdgeParams) (*EdgeAPI, error) {
	if p.Edge == nil || p.Tokens == nil || p.Sessions == nil {
		return nil, errors.New("checkout http: the edge API needs the edge, order tokens and buyer sessions")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	return &EdgeAPI{edge: p.Edge, tokens: p.Tokens, sessions: p.Sessions, orders: p.Orders,
		logger: p.Logger.With("component", "checkout-http")}, nil
}

// PlacedOrder is the answer to a purchase and to an order read: the order
// and the token that reads it back.
type PlacedOrder struct {
	checkout.Order
	Token string `json:"token"`
}

// Register adds the viewer routes and the public totals read
// (GET /v1/drops/{drop}). When the control API shares the mux, use
// RegisterOrders instead: the control API owns GET /v1/drops/{id} there.
func (a *EdgeAPI) Register(mux *http.ServeMux) {
	a.RegisterOrders(mux)
	mux.HandleFunc("GET /v1/drops/{drop}", a.totals)
}

// RegisterOrders adds POST /v1/drops/{drop}/orders, GET /v1/orders/{id},
// GET /v1/me/orders and GET /v1/drops/{drop}/entries/{id}.
func (a *EdgeAPI) RegisterOrders(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/drops/{drop}/orders", a.placeOrder)
	mux.HandleFunc("GET /v1/orders/{id}", a.order)
	mux.HandleFunc("GET /v1/me/orders", a.myOrders)
	mux.HandleFunc("GET /v1/drops/{drop}/entries/{id}", a.entry)
}

// session verifies the request's buyer session, or answers 401.
func (a *EdgeAPI) session(w http.ResponseWriter, r *http.Request) (buyer.Session, bool) {
	tok, _ := jsonhttp.BearerToken(r)
	s, err := a.sessions.Verify(tok)
	if err == nil {
		return s, true
	}
	code := "session_invalid"
	var ref *buyer.Refusal
	if errors.As(err, &ref) && ref.Reason == "missing" {
		code = "session_required"
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop buyer"`)
	writeJSON(w, http.StatusUnauthorized, OrderError{Error: err.Error(), Code: code})
	return buyer.Session{}, false
}

// placeOrder takes an order for the buyer of the request's session: the
// body's "buyer", if a client still sends one, is ignored.
func (a *EdgeAPI) placeOrder(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.session(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	b, err := DecodeOrder(r.Body)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	if !a.admit(w, r, r.PathValue("drop"), sess.Buyer) { // the buyer's proofs, for a gated drop (gate.go)
		return
	}
	if b.Pay == checkout.PayWallet && !a.walletSession(w, sess) { // wallet.go
		return
	}
	o, err := a.edge.PlaceOrder(r.Context(), checkout.OrderRequest{
		Drop: r.PathValue("drop"), SKU: b.SKU, Qty: b.Qty,
		Buyer: sess.Buyer, Device: sess.Device, IP: guard.HostKey(r.RemoteAddr),
		Member:         sess.Member, // the signed session's claim, never the body's
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Retry:          isRetry(r.Header.Get(RetryHeader)),
		RSVP:           b.RSVP,
		Channel:        b.Channel,
		Fulfilment:     b.Fulfilment,
		Pay:            b.Pay,
	})
	if err != nil {
		if !a.writeEntry(w, err) { // an opening lottery's entry (lottery.go)
			a.writeOrderError(w, err)
		}
		return
	}
	if a.placed != nil {
		a.placed(o)
	}
	tok := a.tokens.Sign(o.ID)
	w.Header().Set("Location", "/v1/orders/"+o.ID+"?token="+tok)
	writeJSON(w, http.StatusCreated, PlacedOrder{Order: o, Token: tok})
}

// RetryHeader marks an order request as a retry of an earlier attempt with
// the same Idempotency-Key whose answer the client did not get: the edge then
// reads the store first and answers with the order if any edge accepted it.
// Unmarked retries get the same order too; marking saves a sale attempt.
const RetryHeader = "Idempotency-Retry"

func isRetry(v string) bool { return v != "" && v != "0" && v != "false" }

// OrderError is the body of a refused order: what happened in words, a
// stable code a client can switch on, and for "held" how long to wait.
type OrderError struct {
	Error        string `json:"error"`
	Code         string `json:"code"`
	RetryAfterMs int64  `json:"retry_after_ms,omitempty"`
	// OpensAt, with code members_only, is when the drop opens for everyone.
	OpensAt time.Time `json:"opens_at,omitzero"`
	// BalanceCents and Currency, with code insufficient_balance, are the
	// buyer's wallet balance when the order was refused.
	BalanceCents *int64 `json:"balance_cents,omitempty"`
	Currency     string `json:"currency,omitempty"`
}

// writeOrderError answers a refused order. Definitive refusals (sold_out,
// not_open, limit) are final for the key; held, in-progress and unavailable
// answers say when to try again with the same key.
func (a *EdgeAPI) writeOrderError(w http.ResponseWriter, err error) {
	code := statusOf(err)
	if code == http.StatusInternalServerError {
		writeError(w, a.logger, err)
		return
	}
	body := OrderError{Error: err.Error(), Code: checkoutCode(err)}
	if pr, ok := errors.AsType[*checkout.PaymentRefusal](err); ok { // wallet.go
		code, body = paymentRefusal(pr)
	}
	if mo, ok := errors.AsType[*checkout.MembersOnlyError](err); ok {
		body.Code, body.OpensAt = "members_only", mo.OpensAt.UTC()
	}
	switch checkout.ClassOf(err) {
	case checkout.ClassHeld:
		hint := a.edge.RetryHint()
		body.RetryAfterMs = hint.Milliseconds()
		w.Header().Set("Retry-After", "1") // whole seconds; retry_after_ms is the finer hint
	case checkout.ClassUnavailable, checkout.ClassRateLimited:
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, code, body)
}

// checkoutCode names an error's class for clients.
func checkoutCode(err error) string {
	if c := rsvpCode(err); c != "" {
		return c // rsvp.go
	}
	switch checkout.ClassOf(err) {
	case checkout.ClassInvalid:
		return "invalid"
	case checkout.ClassNotFound:
		return "not_found"
	case checkout.ClassConflict:
		return "conflict"
	case checkout.ClassSoldOut:
		return "sold_out"
	case checkout.ClassHeld:
		return "held"
	case checkout.ClassNotOpen:
		return "not_open"
	case checkout.ClassLimit:
		return "limit"
	case checkout.ClassRateLimited:
		return "rate_limited"
	case checkout.ClassUnavailable:
		return "unavailable"
	}
	return "internal"
}

// order answers GET /v1/orders/{id} to whoever holds the order's token:
// an order id alone (seen in a log, a screenshot, a shared link without
// its token) reads nothing. A wrong token is answered like an unknown
// order, so the answer does not tell whether the order exists.
func (a *EdgeAPI) order(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tok := r.Header.Get(OrderTokenHeader)
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" {
		writeJSON(w, http.StatusForbidden, OrderError{Code: "token_required",
			Error: "reading an order needs its token: the \"token\" returned with the order, as ?token= or the " + OrderTokenHeader + " header"})
		return
	}
	if !a.tokens.Valid(id, tok) {
		writeJSON(w, http.StatusNotFound, OrderError{Code: "not_found", Error: "no order with this id and token"})
		return
	}
	o, err := a.edge.Order(r.Context(), id)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, PlacedOrder{Order: o, Token: tok})
}

// MyOrders is the answer to GET /v1/me/orders.
type MyOrders struct {
	Buyer  string        `json:"buyer"`
	Orders []PlacedOrder `json:"orders"`
}

// myOrders answers GET /v1/me/orders: the orders of the session's buyer,
// each with the token that reads it; nobody else's.
func (a *EdgeAPI) myOrders(w http.ResponseWriter, r *http.Request) {
	sess, ok := a.session(w, r)
	if !ok {
		return
	}
	if a.orders == nil {
		writeJSON(w, http.StatusNotImplemented, OrderError{Code: "not_available", Error: "this edge cannot list a buyer's orders"})
		return
	}
	list, err := a.orders.BuyerOrders(r.Context(), sess.Buyer)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	out := MyOrders{Buyer: sess.Buyer, Orders: make([]PlacedOrder, 0, len(list))}
	for _, o := range list {
		if o.Buyer != sess.Buyer {
			continue // never another buyer's, whatever the index says
		}
		out.Orders = append(out.Orders, PlacedOrder{Order: o, Token: a.tokens.Sign(o.ID)})
	}
	writeJSON(w, http.StatusOK, out)
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
	guard  *guard.Guard
	logger *slog.Logger

	rsvpBase string     // rsvp.go
	feeds    *liveFeeds // orders_live.go

	photos       dropphoto.Store                // photo.go; nil: no photo routes
	photoUploads *prometheus.CounterVec         // photo.go
	views        ViewSource                     // report.go
	sales        salesCache                     // report.go
	consents     atomic.Pointer[ConsentCounter] // report.go
	formats      atomic.Pointer[FormatSource]   // report_formats.go
}

// MinTokenLen is the shortest control token the API accepts.
const MinTokenLen = 16

// NewControlAPI adapts ctl to HTTP; every request must carry token as its
// bearer token. Wrong tokens cost the client's budget in g (the process's
// guard, shared with the overlay routes); a locked-out client gets 429.
// A nil g is a guard of the API's own with the default budget.
func NewControlAPI(ctl *checkout.Control, token string, logger *slog.Logger, g *guard.Guard) (*ControlAPI, error) {
	if len(token) < MinTokenLen {
		return nil, fmt.Errorf("control token: must be set, at least %d characters", MinTokenLen)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g, err := guard.OrDefault(g, logger)
	if err != nil {
		return nil, err
	}
	return &ControlAPI{ctl: ctl, token: []byte(token), guard: g, logger: logger.With("component", "checkout-control-http"),
		feeds: newLiveFeeds()}, nil
}

// Register adds POST /v1/drops, POST /v1/drops/{id}/open, POST
// /v1/drops/{id}/close, GET /v1/drops/{id}, GET /v1/drops/{id}/report,
// the sign routes, POST /v1/drops/{id}/rsvps and the order routes
// (orders.go). Run closes the live feeds at shutdown.
func (a *ControlAPI) Register(mux *http.ServeMux) {
	mux.Handle("POST /v1/drops", a.auth(a.create))
	mux.Handle("POST /v1/drops/{id}/open", a.auth(a.open))
	mux.Handle("POST /v1/drops/{id}/close", a.auth(a.close))
	mux.Handle("GET /v1/drops/{id}", a.auth(a.totals))
	mux.Handle("GET /v1/drops/{id}/report", a.auth(a.report)) // report.go
	mux.HandleFunc("GET /v1/drops/{id}/sign", a.signInfo)     // sign.go: public, as the printed sign is
	mux.HandleFunc("GET /v1/drops/{id}/sign.png", a.signQR)
	a.registerRSVP(mux)
	a.registerOrders(mux)
	a.registerDrops(mux) // drops.go
}

func (a *ControlAPI) auth(next http.HandlerFunc) http.Handler {
	return jsonhttp.GuardedBearer(a.token, a.guard, next)
}

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
		return http.StatusRequestEntityTooLarge
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
	case checkout.ClassUnavailable, checkout.ClassHeld:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, logger *slog.Logger, err error) {
	jsonhttp.Error(w, logger, statusOf(err), err)
}

func writeJSON(w http.ResponseWriter, code int, v any) { jsonhttp.Write(w, code, v) }
