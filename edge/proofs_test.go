package edge

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/proof"
)

func proofEdge(t testing.TB) (*Edge, Proofs) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Access.NodeSecrets = []string{testNodeSecret}
	cfg.HTTPAddr, cfg.DataDir, cfg.ICE.UDPPort = "127.0.0.1:0", t.TempDir(), 0
	reg := prometheus.NewRegistry()
	g, err := proof.New(proof.Params{Config: proof.Defaults(), NodeSecrets: cfg.Access.NodeSecrets, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	valid := regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,64}$`)
	p := Proofs{Gate: g, BuyerOf: func(r *http.Request) (string, error) {
		b := r.URL.Query().Get("buyer")
		if !valid.MatchString(b) {
			return "", errors.New("bad buyer")
		}
		return b, nil
	}}
	e, err := New(Params{Config: cfg, Logger: slog.New(slog.DiscardHandler), Registry: reg, Proofs: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, p
}

func askProof(e *Edge, p Proofs, path string) (int, map[string]any, http.Header) {
	mux := http.NewServeMux()
	e.registerProofs(mux, p)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m, rec.Header()
}

// TestProofEndpoints: what a page or a script gets from the proof routes
// without a media session, and a challenge as the worker takes it.
func TestProofEndpoints(t *testing.T) {
	e, p := proofEdge(t)
	for _, tc := range []struct {
		path string
		code int
		err  string
	}{
		{"/v1/watch-proof?session=abc", 400, "invalid"},
		{"/v1/watch-proof?buyer=ann", 400, "invalid"},
		{"/v1/watch-proof?buyer=ann&session=0123456789abcdef0123456789abcdef", 404, "no_session"},
		{"/v1/pow-challenge", 400, "invalid"},
	} {
		code, body, _ := askProof(e, p, tc.path)
		if code != tc.code || body["code"] != tc.err || body["error"] == "" {
			t.Errorf("GET %s: %d %v, want %d %s", tc.path, code, body, tc.code, tc.err)
		}
	}
	code, body, hdr := askProof(e, p, "/v1/pow-challenge?buyer=ann")
	seed, _ := body["seed"].(string)
	exp, _ := time.Parse(time.RFC3339Nano, body["expires_at"].(string))
	if code != 200 || len(seed) != 32 || body["bits"] != 16.0 || body["challenge"] == "" || time.Until(exp) < time.Minute || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("challenge: %d %v", code, body)
	}
}

// FuzzProofRequests: any query gets a JSON answer of a known status, and
// the edge keeps serving.
func FuzzProofRequests(f *testing.F) {
	e, p := proofEdge(f)
	f.Add("session=abc&buyer=ann")
	f.Add("buyer=%ff&session=%00")
	f.Add("session=" + "0123456789abcdef0123456789abcdef" + "&buyer=ann&buyer=bob")
	f.Fuzz(func(t *testing.T, q string) {
		for _, route := range []string{"/v1/watch-proof", "/v1/pow-challenge"} {
			req := httptest.NewRequest("GET", "/", nil)
			req.URL.Path, req.URL.RawQuery = route, q
			rec := httptest.NewRecorder()
			mux := http.NewServeMux()
			e.registerProofs(mux, p)
			mux.ServeHTTP(rec, req)
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Fatalf("%s?%s: non-JSON %q", route, q, rec.Body)
			}
			switch rec.Code {
			case 200, 400, 404:
			default:
				t.Fatalf("%s?%s: status %d", route, q, rec.Code)
			}
		}
	})
}
