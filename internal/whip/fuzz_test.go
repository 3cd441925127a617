package whip

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// liveSink answers every publish as a stream that already has a live
// publisher: an offer that gets this far is answered 409.
type liveSink struct{}

func (liveSink) Publish(string, stream.Tracks, Source) (Ingest, error) { return nil, ErrLive }

// FuzzWHIPPost posts fuzzed offers through the real handler, with fuzzed
// Content-Type and Authorization headers and stream names. Properties: no
// panic; every answer is a refusal with a reason (400, 401, 404, 409, 413,
// 415), never a 5xx and never a session.
func FuzzWHIPPost(f *testing.F) {
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		f.Fatal(err)
	}
	defer closeICE()
	s, err := NewServer(ServerParams{API: api, Sink: liveSink{}, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
		Authorize: func(r *http.Request, _ string) (int, error) {
			if r.Header.Get("Authorization") != "Bearer key" {
				return 401, errUnauthorizedForTest
			}
			return 0, nil
		}})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	s.Register(mux)
	f.Add("live", "application/sdp", "Bearer key", obsVideoOnly)
	f.Add("live", "application/sdp; charset=utf-8", "Bearer key", strings.ReplaceAll(obsVideoOnly, "H264", "VP8"))
	f.Add("live", "application/sdp", "Bearer wrong", obsVideoOnly)
	f.Add("bad name", "text/plain", "", "v=0")
	f.Add("live", "application/sdp", "Basic a2V5", "")
	f.Fuzz(func(t *testing.T, name, ctype, authz, body string) {
		if p := "/whip/" + name; path.Clean(p) != p || strings.ContainsAny(name, "?#%") {
			return // the mux redirects to the clean path first
		}
		req := httptest.NewRequest("POST", "/whip/x", strings.NewReader(body))
		req.URL.Path = "/whip/" + name
		req.URL.RawPath = ""
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case 400, 401, 404, 405, 409, 413, 415:
		default:
			t.Fatalf("POST /whip/%q (%q, %q): %d %q", name, ctype, authz, rec.Code, rec.Body.String())
		}
		if rec.Code != 404 && rec.Code != 405 && strings.TrimSpace(rec.Body.String()) == "" {
			t.Fatalf("refusal %d without a reason", rec.Code)
		}
		if n := s.Publishers(); n != 0 {
			t.Fatalf("%d publishers after a refused offer", n)
		}
	})
}
