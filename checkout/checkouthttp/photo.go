package checkouthttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/dropphoto"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// Drop photos over HTTP: the seller uploads one per drop (POST
// /v1/drops/{id}/photo, the image as the body) or removes it (DELETE),
// anyone reads it (GET, on the origin and on every edge: the product card
// shows it, or none once it is removed).

// SetPhotos gives the control API its photo store and registers the upload
// counter; call it before Register. Without it the photo routes are absent.
func (a *ControlAPI) SetPhotos(photos dropphoto.Store, reg prometheus.Registerer) error {
	a.photos = photos
	a.photoUploads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livedrop_checkout_photo_uploads_total",
		Help: "Drop photo uploads by result (stored, invalid, too_large, not_found, error).",
	}, []string{"result"})
	for _, r := range []string{"stored", "invalid", "too_large", "not_found", "error"} {
		a.photoUploads.WithLabelValues(r)
	}
	return reg.Register(a.photoUploads)
}

func (a *ControlAPI) registerPhotos(mux *http.ServeMux) {
	if a.photos == nil {
		return
	}
	mux.Handle("POST /v1/drops/{id}/photo", a.auth(a.uploadPhoto))
	mux.Handle("DELETE /v1/drops/{id}/photo", a.auth(a.deletePhoto)) // photo_delete.go
	ServePhotos(mux, a.photos, a.logger)
}

func (a *ControlAPI) uploadPhoto(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	result := "error"
	defer func() { a.photoUploads.WithLabelValues(result).Inc() }()
	fail := func(code int, res, msg string) {
		result = res
		jsonhttp.Write(w, code, map[string]string{"error": msg})
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); !slices.Contains(dropphoto.Types, ct) {
		fail(http.StatusBadRequest, "invalid", "Content-Type must be image/jpeg, image/png or image/webp")
		return
	}
	if _, err := a.ctl.Drop(r.Context(), id); err != nil {
		if checkout.ClassOf(err) == checkout.ClassNotFound || checkout.ClassOf(err) == checkout.ClassInvalid {
			fail(statusOf(err), "not_found", err.Error())
			return
		}
		writeError(w, a.logger, err)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, dropphoto.MaxBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		fail(http.StatusRequestEntityTooLarge, "too_large", dropphoto.ErrTooLarge.Error())
		return
	}
	if err != nil {
		fail(http.StatusBadRequest, "invalid", "read body: "+err.Error())
		return
	}
	p, err := dropphoto.New(data)
	if err != nil {
		fail(http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if err := a.photos.Put(r.Context(), id, p); err != nil {
		a.logger.Warn("photo not stored", "drop", id, "err", err)
		fail(http.StatusServiceUnavailable, "error", "the photo could not be stored: try again")
		return
	}
	result = "stored"
	a.logger.Info("drop photo stored", "drop", id, "type", p.Type, "bytes", len(p.Data))
	w.Header().Set("Location", "/v1/drops/"+id+"/photo")
	jsonhttp.Write(w, http.StatusCreated, map[string]any{"drop": id, "type": p.Type, "bytes": len(p.Data), "etag": p.ETag})
}

// copyPhoto gives a duplicated drop its source's photo, if it has one.
func (a *ControlAPI) copyPhoto(ctx context.Context, from, to string) {
	if a.photos == nil {
		return
	}
	p, err := a.photos.Get(ctx, from)
	if err == nil {
		err = a.photos.Put(ctx, to, p)
	}
	if err != nil && !errors.Is(err, dropphoto.ErrNotFound) {
		a.logger.Warn("duplicate: photo not copied", "from", from, "to", to, "err", err)
	}
}

// ServePhotos adds the public GET /v1/drops/{id}/photo, with an ETag that
// caches must revalidate (a seller may replace or remove it: the next
// card shows that, and an unchanged photo costs a 304).
func ServePhotos(mux *http.ServeMux, photos dropphoto.Store, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux.HandleFunc("GET /v1/drops/{id}/photo", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !checkout.ValidID(id) {
			jsonhttp.Write(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("drop id must be 1-%d of [A-Za-z0-9_-]", checkout.MaxIDLen)})
			return
		}
		p, err := photos.Get(r.Context(), id)
		if errors.Is(err, dropphoto.ErrNotFound) {
			jsonhttp.Write(w, http.StatusNotFound, map[string]string{"error": "drop " + id + " has no photo"})
			return
		}
		if err != nil {
			logger.Warn("photo not read", "drop", id, "err", err)
			jsonhttp.Write(w, http.StatusServiceUnavailable, map[string]string{"error": "the photo could not be read: try again"})
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=0, must-revalidate")
		w.Header().Set("ETag", p.ETag)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Header.Get("If-None-Match") == p.ETag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", p.Type)
		_, _ = w.Write(p.Data)
	})
}
