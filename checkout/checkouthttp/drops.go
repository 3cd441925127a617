package checkouthttp

import (
	"fmt"
	"net/http"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// The seller's drop catalogue over HTTP (the console's Drops panel):
// GET /v1/drops lists every drop, PUT /v1/drops/{id} edits one that has
// not opened (409 once it has), POST /v1/drops/{id}/duplicate copies one.

// DropList is the answer to GET /v1/drops: every drop, by opens_at (those
// without one last), then id.
type DropList struct {
	Drops []checkout.Drop `json:"drops"`
}

// DuplicateRequest is the body of POST /v1/drops/{id}/duplicate.
type DuplicateRequest struct {
	ID      string    `json:"id"`
	OpensAt time.Time `json:"opens_at,omitzero"`
}

// registerDrops adds the catalogue routes.
func (a *ControlAPI) registerDrops(mux *http.ServeMux) {
	mux.Handle("GET /v1/drops", a.auth(a.listDrops))
	mux.Handle("PUT /v1/drops/{id}", a.auth(a.updateDrop))
	mux.Handle("POST /v1/drops/{id}/duplicate", a.auth(a.duplicateDrop))
	a.registerPhotos(mux) // photo.go
}

func (a *ControlAPI) listDrops(w http.ResponseWriter, r *http.Request) {
	list, err := a.ctl.ListDrops(r.Context())
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, DropList{Drops: list})
}

func (a *ControlAPI) updateDrop(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxDropBodyBytes)
	d, err := DecodeDrop(r.Body)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	if d.ID != r.PathValue("id") {
		writeError(w, a.logger, fmt.Errorf("%w: id %q in the body is not the drop of the path, %q", checkout.ErrInvalid, d.ID, r.PathValue("id")))
		return
	}
	if d, err = a.ctl.UpdateDrop(r.Context(), d); err != nil {
		writeError(w, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *ControlAPI) duplicateDrop(w http.ResponseWriter, r *http.Request) {
	var req DuplicateRequest
	if err := jsonhttp.DecodeStrict(http.MaxBytesReader(w, r.Body, 4<<10), 4<<10, &req); err != nil {
		writeError(w, a.logger, fmt.Errorf("%w: %w", checkout.ErrInvalid, err))
		return
	}
	d, err := a.ctl.DuplicateDrop(r.Context(), r.PathValue("id"), req.ID, req.OpensAt)
	if err != nil {
		writeError(w, a.logger, err)
		return
	}
	a.copyPhoto(r.Context(), r.PathValue("id"), d.ID) // photo.go
	w.Header().Set("Location", "/v1/drops/"+d.ID)
	writeJSON(w, http.StatusCreated, d)
}
