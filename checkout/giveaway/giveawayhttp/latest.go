package giveawayhttp

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// latestTTL is how long an edge answers a stream's latest giveaway from
// memory: every viewer page asks every few seconds, the store once a
// second per stream.
const latestTTL = time.Second

// maxLatest bounds the streams remembered (past it, memory starts over).
const maxLatest = 1000

// latestCache remembers each stream's latest giveaway for latestTTL.
type latestCache struct {
	mu sync.Mutex
	m  map[string]latestEntry
}

type latestEntry struct {
	v   giveaway.View
	err error
	at  time.Time
}

// latest answers GET /v1/streams/{stream}/giveaway: the giveaway started
// last on the stream (404: none), as the public read shows it.
func (a *EntryAPI) latest(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if stream == "" || len(stream) > 64 {
		jsonhttp.Write(w, http.StatusBadRequest, EntryError{Error: "stream must be 1-64 characters", Code: "invalid"})
		return
	}
	now := a.p.Now()
	a.cache.mu.Lock()
	e, ok := a.cache.m[stream]
	a.cache.mu.Unlock()
	if !ok || now.Sub(e.at) >= latestTTL {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		v, err := a.p.Giveaways.Latest(ctx, stream)
		cancel()
		v.Order = ""
		e = latestEntry{v: v, err: err, at: now}
		if err == nil || errors.Is(err, giveaway.ErrNotFound) {
			a.cache.mu.Lock()
			if a.cache.m == nil || len(a.cache.m) >= maxLatest {
				a.cache.m = map[string]latestEntry{}
			}
			a.cache.m[stream] = e
			a.cache.mu.Unlock()
		}
	}
	if e.err != nil {
		fail(w, a.log, e.err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, e.v)
}
