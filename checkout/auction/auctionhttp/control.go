package auctionhttp

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/livedrop/livedrop/checkout/auction"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// maxBody bounds every request body.
const maxBody = 16 << 10

// ControlAPI serves the seller's lots at the origin (bearer token).
type ControlAPI struct {
	store  auction.Store
	closer *auction.Closer
	token  []byte
	guard  *guard.Guard
	logger *slog.Logger
}

// NewControlAPI serves store's lots to holders of token (none: every
// request is refused); g counts wrong tokens (the control API's guard).
func NewControlAPI(store auction.Store, closer *auction.Closer, token string, g *guard.Guard, logger *slog.Logger) (*ControlAPI, error) {
	if g == nil {
		return nil, errors.New("auction control: a guard is required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ControlAPI{store: store, closer: closer, token: []byte(token), guard: g, logger: logger.With("component", "auction-control-http")}, nil
}

// Register adds POST /v1/lots, POST /v1/lots/{id}/start, POST
// /v1/lots/{id}/end and GET /v1/lots/{id}/log.
func (a *ControlAPI) Register(mux *http.ServeMux) {
	mux.Handle("POST /v1/lots", jsonhttp.GuardedBearer(a.token, a.guard, a.create))
	mux.Handle("POST /v1/lots/{id}/start", jsonhttp.GuardedBearer(a.token, a.guard, a.start))
	mux.Handle("POST /v1/lots/{id}/end", jsonhttp.GuardedBearer(a.token, a.guard, a.end))
	mux.Handle("GET /v1/lots/{id}/log", jsonhttp.GuardedBearer(a.token, a.guard, a.log))
}

func (a *ControlAPI) create(w http.ResponseWriter, r *http.Request) {
	var l auction.Lot
	if err := jsonhttp.DecodeStrict(r.Body, maxBody, &l); err != nil {
		jsonhttp.Error(w, a.logger, http.StatusBadRequest, err)
		return
	}
	l.Normalize()
	if err := a.store.Create(r.Context(), l); err != nil {
		writeStoreError(w, a.logger, err)
		return
	}
	snap, err := a.store.Lot(r.Context(), l.ID)
	if err != nil {
		writeStoreError(w, a.logger, err)
		return
	}
	jsonhttp.Write(w, http.StatusCreated, snap.Lot)
}

func (a *ControlAPI) start(w http.ResponseWriter, r *http.Request) {
	snap, err := a.store.Start(r.Context(), r.PathValue("id"))
	if err != nil {
		writeStoreError(w, a.logger, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, auction.UpdateOf(snap, 0))
}

// end brings the lot's end to now and settles it at once.
func (a *ControlAPI) end(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := a.store.End(r.Context(), id); err != nil {
		writeStoreError(w, a.logger, err)
		return
	}
	if a.closer != nil {
		if err := a.closer.Settle(r.Context(), id); err != nil {
			a.logger.Warn("lot not settled at its end; the closer retries", "lot", id, "err", err)
		}
	}
	snap, err := a.store.Lot(r.Context(), id)
	if err != nil {
		writeStoreError(w, a.logger, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, SellerView{Update: auction.UpdateOf(snap, 0), Leader: snap.State.Leader, OrderID: snap.OrderID})
}

// SellerView is a lot as its seller sees it: the leader unmasked, and the
// order the lot became.
type SellerView struct {
	auction.Update
	Leader  string `json:"leader_buyer,omitempty"`
	OrderID string `json:"order_id,omitempty"`
}

func (a *ControlAPI) log(w http.ResponseWriter, r *http.Request) {
	recs, err := a.store.Log(r.Context(), r.PathValue("id"))
	if err != nil {
		writeStoreError(w, a.logger, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, recs)
}

func writeStoreError(w http.ResponseWriter, logger *slog.Logger, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, auction.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, auction.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, auction.ErrExists), errors.Is(err, auction.ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, auction.ErrUnavailable):
		code = http.StatusServiceUnavailable
	}
	jsonhttp.Error(w, logger, code, err)
}
