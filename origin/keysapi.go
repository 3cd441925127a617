package origin

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/media"
)

// registerKeyRoutes adds the publish key routes of the control API, each
// behind the control token (and the guard's budget for wrong tokens):
//
//	POST   /v1/streams/{stream}/publish-key  create or rotate: 201 {"stream", "key"}
//	DELETE /v1/streams/{stream}/publish-key  revoke: 200 {"stream", "revoked": true}
//
// ?end_publisher=true also ends the stream's current publisher (its
// viewers stay for the next one); without it a rotation leaves it live.
func (o *Origin) registerKeyRoutes(mux *http.ServeMux, token string) {
	mux.Handle("POST /v1/streams/{stream}/publish-key", jsonhttp.GuardedBearer([]byte(token), o.guard, o.rotateKey))
	mux.Handle("DELETE /v1/streams/{stream}/publish-key", jsonhttp.GuardedBearer([]byte(token), o.guard, o.revokeKey))
}

type keyAnswer struct {
	Stream  string `json:"stream"`
	Key     string `json:"key,omitempty"`
	Revoked bool   `json:"revoked,omitempty"`
	Ended   bool   `json:"ended_publisher,omitempty"`
}

func (o *Origin) keyStream(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("stream")
	if !media.ValidName(name) {
		jsonhttp.Write(w, http.StatusBadRequest, jsonhttp.ErrorBody{Error: "stream must match " + media.NamePattern})
		return "", false
	}
	if o.isPulled(name) {
		jsonhttp.Write(w, http.StatusConflict, jsonhttp.ErrorBody{Error: "stream is pulled from a configured camera: it has no publish key"})
		return "", false
	}
	return name, true
}

func (o *Origin) rotateKey(w http.ResponseWriter, r *http.Request) {
	name, ok := o.keyStream(w, r)
	if !ok {
		return
	}
	key, err := o.keys.rotate(name)
	if err != nil {
		o.keyError(w, err)
		return
	}
	o.log.Info("publish key rotated", "stream", name) // never the key
	jsonhttp.Write(w, http.StatusCreated, keyAnswer{Stream: name, Key: key, Ended: o.maybeEndPublisher(r, name)})
}

func (o *Origin) revokeKey(w http.ResponseWriter, r *http.Request) {
	name, ok := o.keyStream(w, r)
	if !ok {
		return
	}
	if err := o.keys.revoke(name); err != nil {
		o.keyError(w, err)
		return
	}
	o.log.Info("publish key revoked", "stream", name)
	jsonhttp.Write(w, http.StatusOK, keyAnswer{Stream: name, Revoked: true, Ended: o.maybeEndPublisher(r, name)})
}

// maybeEndPublisher ends the stream's live publisher when the request
// asks (?end_publisher=true), and says whether one was ended.
func (o *Origin) maybeEndPublisher(r *http.Request, name string) bool {
	if end, _ := strconv.ParseBool(r.URL.Query().Get("end_publisher")); !end {
		return false
	}
	o.mu.Lock()
	p := o.paths[name]
	o.mu.Unlock()
	if p == nil {
		return false
	}
	p.mu.Lock()
	owner := p.owner
	p.mu.Unlock()
	if c, ok := owner.(interface{ Close() }); ok {
		c.Close()
		return true
	}
	return false
}

// keyError answers a key change that failed: 503 when the shared store
// did not take it (try again), 500 otherwise.
func (o *Origin) keyError(w http.ResponseWriter, err error) {
	if errors.Is(err, errKeysUnshared) {
		o.log.Warn("publish key change refused", "err", err)
		w.Header().Set("Retry-After", "1")
		jsonhttp.Write(w, http.StatusServiceUnavailable, jsonhttp.ErrorBody{Error: err.Error()})
		return
	}
	jsonhttp.Error(w, o.log, http.StatusInternalServerError, err)
}
