package whip

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// refusingSink is a sink no offer in these tests may reach: each is
// refused before a publisher is made.
type refusingSink struct{ t *testing.T }

func (s refusingSink) Publish(name string, _ stream.Tracks, _ Source) (Ingest, error) {
	s.t.Errorf("an offer that should have been refused reached the sink (stream %s)", name)
	return nil, ErrLive
}

const obsVideoOnly = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n" +
	"a=rtpmap:96 H264/90000\r\na=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"

// TestBadOffersAreRefusedWithTheReason: what a broken or foreign client
// sends gets a clear error and starts nothing.
func TestBadOffersAreRefusedWithTheReason(t *testing.T) {
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer closeICE()
	s, err := NewServer(ServerParams{API: api, Sink: refusingSink{t}, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
		Authorize: func(r *http.Request, _ string) (int, error) {
			if r.Header.Get("Authorization") != "Bearer key" {
				return 401, errUnauthorizedForTest
			}
			return 0, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	s.Register(mux)
	audioOnly := strings.Replace(strings.Replace(obsVideoOnly, "m=video 9 UDP/TLS/RTP/SAVPF 96", "m=audio 9 UDP/TLS/RTP/SAVPF 111", 1),
		"a=rtpmap:96 H264/90000", "a=rtpmap:111 opus/48000/2", 1)
	for _, tc := range []struct {
		name, path, key, ctype, body string
		code                         int
		want                         string
	}{
		{"no key", "/whip/live", "", "application/sdp", obsVideoOnly, 401, "no key"},
		{"bad stream name", "/whip/bad%20name", "key", "application/sdp", obsVideoOnly, 404, "stream name"},
		{"not SDP", "/whip/live", "key", "application/json", "{}", 415, "application/sdp"},
		{"malformed SDP", "/whip/live", "key", "application/sdp", "v=0\r\nnonsense", 400, "malformed SDP"},
		{"no H.264", "/whip/live", "key", "application/sdp", audioOnly, 400, "no H.264 video"},
		{"too large", "/whip/live", "key", "application/sdp", obsVideoOnly + strings.Repeat("a=x\r\n", MaxOfferSize/5), 413, "larger than"},
	} {
		req := httptest.NewRequest("POST", tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		if tc.key != "" {
			req.Header.Set("Authorization", "Bearer "+tc.key)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, rec.Code, rec.Body.String(), tc.code, tc.want)
		}
	}
	if n := s.Publishers(); n != 0 {
		t.Fatalf("%d publishers after refusals", n)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("DELETE", "/whip/live/nosuch", nil))
	if rec.Code != 404 {
		t.Fatalf("DELETE of an unknown session: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("OPTIONS", "/whip/live", nil))
	if rec.Code != 204 || !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("OPTIONS: %d %v", rec.Code, rec.Header())
	}
}

var errUnauthorizedForTest = errorString("no key")

type errorString string

func (e errorString) Error() string { return string(e) }

// FuzzOfferedTracks: any offer is either refused with an error or names
// H.264 video; parsing never panics.
func FuzzOfferedTracks(f *testing.F) {
	f.Add(obsVideoOnly)
	f.Add(obsVideoOnly + "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n")
	f.Add("v=0\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		tr, err := offeredTracks(offer)
		if err == nil && (tr.Video == nil || tr.Video.MimeType != "video/H264") {
			t.Fatalf("accepted an offer without H.264: %+v", tr)
		}
	})
}
