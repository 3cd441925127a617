package origin

import (
	"math"
	"net/http"
	"strconv"

	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/media"
)

// audienceAnswer is GET /v1/streams/{stream}/audience's body.
type audienceAnswer struct {
	Stream  string `json:"stream"`
	Live    bool   `json:"live"`
	Viewers int    `json:"viewers"`
}

// handleAudience tells the stream's publisher (the go-live page, with the
// stream key as Bearer token, as WHIP takes it) how many watch: the
// origin's WHEP sessions, each edge's counting as the viewers that edge
// reported (whep.Audience).
func (o *Origin) handleAudience(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	if !media.ValidName(name) {
		jsonhttp.Write(w, http.StatusBadRequest, jsonhttp.ErrorBody{Error: "stream must match " + media.NamePattern})
		return
	}
	if code, err := o.authorizePublish(r, name); err != nil {
		if l, ok := err.(lockedOut); ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(l.RetryAfter().Seconds()))))
		}
		jsonhttp.Write(w, code, jsonhttp.ErrorBody{Error: err.Error()})
		return
	}
	live := false
	o.mu.Lock()
	p := o.paths[name]
	o.mu.Unlock()
	if p != nil {
		_, live = p.st.State()
	}
	jsonhttp.Write(w, http.StatusOK, audienceAnswer{Stream: name, Live: live, Viewers: o.whep.Audience(name)})
}
