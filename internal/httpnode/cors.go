package httpnode

import (
	"net/http"
	"slices"
	"strings"
)

// corsHeaders are the request headers a page on another node's origin may
// send: sessions, idempotency and the proofs of gated drops.
const corsHeaders = "Authorization, Content-Type, Idempotency-Key, Idempotency-Retry, Watch-Proof, Proof-Of-Work, Proof-Of-Work-Solve-Ms"

// withCORS lets pages served by the origins in allowed (lower-case
// scheme://host[:port]) call next: a viewer page that moved its media to
// this edge from a draining sibling keeps its origin and calls this edge's
// API from it. Other origins get no CORS headers (the browser refuses).
func withCORS(allowed []string, next http.Handler) http.Handler {
	if len(allowed) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !slices.Contains(allowed, strings.ToLower(origin)) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "Location, Retry-After, Link, ETag")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
