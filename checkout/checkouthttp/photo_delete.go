package checkouthttp

import (
	"errors"
	"net/http"

	"github.com/livedrop/livedrop/internal/dropphoto"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// PhotoDeleted is the answer to DELETE /v1/drops/{id}/photo.
type PhotoDeleted struct {
	Drop    string `json:"drop"`
	Deleted bool   `json:"deleted"`
}

// deletePhoto answers DELETE /v1/drops/{id}/photo: the drop's photo is
// removed from the store (every node's GET answers 404 from then on, and
// the product card shows none). A drop without one is 404, with words.
func (a *ControlAPI) deletePhoto(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := a.ctl.Drop(r.Context(), id); err != nil {
		writeError(w, a.logger, err)
		return
	}
	err := a.photos.Delete(r.Context(), id)
	switch {
	case errors.Is(err, dropphoto.ErrNotFound):
		jsonhttp.Write(w, http.StatusNotFound, map[string]string{"error": "drop " + id + " has no photo", "code": "no_photo"})
		return
	case err != nil:
		a.logger.Warn("photo not deleted", "drop", id, "err", err)
		jsonhttp.Write(w, http.StatusServiceUnavailable, map[string]string{"error": "the photo could not be deleted: try again"})
		return
	}
	a.logger.Info("drop photo deleted", "drop", id)
	writeJSON(w, http.StatusOK, PhotoDeleted{Drop: id, Deleted: true})
}
