package overlayhttp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/overlay"
)

const token = "test-control-token-0123"

// originServer serves an OriginService over a memory store holding drop d1
// of stream cam1 and drop d2 of stream other; it stops with the test.
func originServer(t testing.TB, cfg overlay.Config) (*httptest.Server, *OriginService) {
	t.Helper()
	store, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, d := range []checkout.Drop{
		{ID: "d1", Stream: "cam1", SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee", PriceCents: 2500, Currency: "EUR", Stock: 100}}},
		{ID: "d2", Stream: "other", SKUs: []checkout.SKU{{SKU: "mug", Name: "Mug", PriceCents: 900, Currency: "EUR", Stock: 3}}},
	} {
		if err := store.CreateDrop(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	hub, err := overlay.NewOriginHub(overlay.OriginParams{
		Registerer: prometheus.NewRegistry(), Config: cfg, Drops: store,
		MediaClock: func(string) (uint32, bool) { return 90000, true },
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewOriginService(OriginServiceParams{Hub: hub, ControlToken: token, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, svc), svc
}

type service interface {
	Register(*http.ServeMux)
	Run(context.Context) error
}

func serve(t testing.TB, svc service) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("service run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("service did not stop")
		}
		srv.Close()
	})
	return srv
}

func do(t *testing.T, method, url, tok, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestOverlayRoutes(t *testing.T) {
	srv, _ := originServer(t, overlay.Defaults())
	base := srv.URL + "/v1/streams/cam1/overlays"
	product := `{"type":"product","drop":"d1","sku":"tee"}`
	tests := []struct {
		name, method, url, tok, body string
		code                         int
		contains                     string
	}{
		{"no token", "POST", base, "", product, 401, "bearer token"},
		{"wrong token", "POST", base, "wrong-token-wrong-token", product, 401, "bearer token"},
		{"token prefix", "POST", base, token[:10], product, 401, "bearer token"},
		{"list without token", "GET", base, "", "", 401, "bearer token"},
		{"delete without token", "DELETE", base + "/ov-1", "", "", 401, "bearer token"},
		{"malformed", "POST", base, token, `{"type":`, 400, "malformed JSON"},
		{"empty", "POST", base, token, ``, 400, "empty body"},
		{"unknown field", "POST", base, token, `{"type":"product","drop":"d1","sku":"tee","price":1}`, 400, "unknown field"},
		{"two objects", "POST", base, token, product + product, 400, "data after"},
		{"array", "POST", base, token, `[]`, 400, "malformed JSON"},
		{"too large", "POST", base, token, `{"type":"countdown","label":"` + strings.Repeat("a", 5000) + `","seconds":1}`, 413, "more than 4096 bytes"},
		{"bad type", "POST", base, token, `{"type":"banner"}`, 400, "type must be"},
		{"bad drop id", "POST", base, token, `{"type":"product","drop":"d 1","sku":"tee"}`, 400, "drop must be"},
		{"zero seconds", "POST", base, token, `{"type":"countdown","label":"Go","seconds":0}`, 400, "seconds must be"},
		{"string seconds", "POST", base, token, `{"type":"countdown","label":"Go","seconds":"5"}`, 400, "malformed JSON"},
		{"bad stream", "POST", srv.URL + "/v1/streams/c%20am/overlays", token, product, 400, "stream must be"},
		{"drop of another stream", "POST", base, token, `{"type":"product","drop":"d2","sku":"mug"}`, 400, `belongs to stream \"other\"`},
		{"unknown drop", "POST", base, token, `{"type":"product","drop":"nope","sku":"tee"}`, 404, `drop \"nope\"`},
		{"unknown sku", "POST", base, token, `{"type":"product","drop":"d1","sku":"hat"}`, 404, `sku \"hat\"`},
		{"pin", "POST", base, token, product, 201, `"price_cents":2500`},
		{"countdown", "POST", base, token, `{"type":"countdown","label":"Drop opens in","seconds":30,"drop":"d1"}`, 201, `"id":"ov-2","kind":"countdown","drop":"d1"`},
		{"list", "GET", base, token, "", 200, `"overlays":[{"id":"ov-1"`},
		{"unpin", "DELETE", base + "/ov-1", token, "", 204, ""},
		{"unpin again", "DELETE", base + "/ov-1", token, "", 404, "not found"},
		{"unpin bad id", "DELETE", base + "/ov%201", token, "", 400, "id must be"},
		{"unpin on an unknown stream", "DELETE", srv.URL + "/v1/streams/nope/overlays/ov-2", token, "", 404, "not found"},
		{"list after", "GET", base, token, "", 200, `{"stream":"cam1","overlays":[{"id":"ov-2"`},
		{"list of an empty stream", "GET", srv.URL + "/v1/streams/empty/overlays", token, "", 200, `"overlays":[]`},
	}
	for _, tc := range tests { // in order: the later cases see the earlier ones' overlays
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := do(t, tc.method, tc.url, tc.tok, tc.body)
			if code != tc.code || !strings.Contains(body, tc.contains) {
				t.Fatalf("%s %s: %d %s, want %d containing %q", tc.method, tc.url, code, body, tc.code, tc.contains)
			}
			if code >= 400 {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
					t.Fatalf("error body %q is not {\"error\":...}", body)
				}
			}
			if code == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if code == 201 && !strings.HasPrefix(hdr.Get("Location"), "/v1/streams/cam1/overlays/ov-") {
				t.Fatalf("Location %q", hdr.Get("Location"))
			}
		})
	}
}

func TestNewOriginServiceNeedsToken(t *testing.T) {
	if _, err := NewOriginService(OriginServiceParams{Hub: &overlay.OriginHub{}, ControlToken: "short", Registerer: prometheus.NewRegistry()}); err == nil {
		t.Fatal("accepted a short token")
	}
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
