package httpnode

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCORSForSiblings: a page of a listed origin gets CORS headers and its
// preflight a 204 that allows the API's headers; any other origin gets
// none, and its preflight goes to the routes (which do not answer it).
func TestCORSForSiblings(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("me")) })
	h := withCORS([]string{"http://edge-a.example:8080"}, mux)
	do := func(method, origin string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/v1/me", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := do("GET", "http://EDGE-A.example:8080", nil)
	if w.Code != 200 || w.Body.String() != "me" || w.Header().Get("Access-Control-Allow-Origin") != "http://EDGE-A.example:8080" {
		t.Fatalf("sibling GET: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	pre := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, idempotency-key"}
	w = do("OPTIONS", "http://edge-a.example:8080", pre)
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Headers") != corsHeaders || w.Header().Get("Access-Control-Allow-Methods") == "" {
		t.Fatalf("sibling preflight: %d %v", w.Code, w.Header())
	}
	for _, o := range []string{"http://evil.example", "https://edge-a.example:8080", ""} {
		w = do("GET", o, nil)
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("GET from %q: %d %v", o, w.Code, w.Header())
		}
		if w = do("OPTIONS", o, pre); w.Code == 204 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("preflight from %q: %d %v", o, w.Code, w.Header())
		}
	}
	if withCORS(nil, mux) != http.Handler(mux) {
		t.Fatal("no origins: the routes should be served as they are")
	}
}
