package whep

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// trickleSession is a real WHEP session on a real server, with the pion
// client that negotiated it.
type trickleSession struct {
	srv      *Server
	hs       *httptest.Server
	location string // the session's URL
	cand     string // a candidate the client really gathered
}

func startTrickleSession(tb testing.TB) *trickleSession {
	tb.Helper()
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig(), peer.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { closeICE() })
	m, err := mediametrics.New(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	st := stream.New("s", time.Second)
	st.SetTracks(stream.Tracks{Video: &stream.Codec{MimeType: media.MimeH264, ClockRate: media.VideoClockRate, SDPFmtpLine: media.H264Fmtp}})
	srv := NewServer(ServerParams{API: api, Source: &countingSource{st: st}, Logger: slog.New(slog.DiscardHandler), Metrics: m, Role: "origin"})
	tb.Cleanup(srv.Close)
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	tb.Cleanup(hs.Close)

	capi, closeClient, err := peer.NewAPI(peer.DefaultICEConfig(), peer.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { closeClient() })
	pc, err := capi.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		tb.Fatal(err)
	}
	cands := make(chan string, 16)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			select {
			case cands <- c.ToJSON().Candidate:
			default:
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	resp, err := hs.Client().Post(hs.URL+"/whep/s", "application/sdp", strings.NewReader(offer.SDP))
	if err != nil {
		tb.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("offer: %d %s", resp.StatusCode, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		tb.Fatal(err)
	}
	ts := &trickleSession{srv: srv, hs: hs, location: hs.URL + resp.Header.Get("Location")}
	select {
	case ts.cand = <-cands:
	case <-time.After(10 * time.Second):
		tb.Fatal("the client gathered no candidate")
	}
	return ts
}

func (ts *trickleSession) patch(tb testing.TB, body string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPatch, ts.location, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	resp, err := ts.hs.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(text)
}

// validFrag is a trickle fragment as RFC 8840 / RFC 9725 spell it, with a
// candidate the client gathered.
func (ts *trickleSession) validFrag() string {
	return "a=ice-ufrag:EsAw\r\na=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=" + ts.cand + "\r\na=end-of-candidates\r\n"
}

func TestTricklePatch(t *testing.T) {
	ts := startTrickleSession(t)
	cases := []struct {
		name, body string
		code       int
		text       string // in the answer
	}{
		{"a real fragment", ts.validFrag(), http.StatusNoContent, ""},
		{"mDNS host candidate (Chromium)", "a=candidate:3471623853 1 udp 2122194687 4f2c8b2e-1a2b-4c3d-9e8f-0123456789ab.local 61765 typ host generation 0 ufrag EsAw network-id 1\r\n", http.StatusNoContent, ""},
		{"empty body", "", http.StatusNoContent, ""},
		{"truncated candidate", "a=candidate:1387637174 1 udp 2122260223 192.0.2.1\r\n", http.StatusBadRequest, "line 1"},
		{"bad port", "a=ice-ufrag:EsAw\r\na=candidate:1 1 udp 2122260223 192.0.2.1 99999 typ host\r\n", http.StatusBadRequest, "line 2"},
		{"empty candidate", "a=candidate:\r\n", http.StatusBadRequest, "a=end-of-candidates"},
		{"not SDP", "hello\r\n", http.StatusBadRequest, "not an SDP line"},
		{"control character", "a=candidate:1 1 udp 1 192.0.2.1 9\x00 typ host\r\n", http.StatusBadRequest, "control character"},
		{"too large", strings.Repeat("a=x\r\n", MaxSDPSize/5+1), http.StatusRequestEntityTooLarge, "over"},
		{"too many candidates", strings.Repeat("a=candidate:1 1 udp 2122260223 192.0.2.1 9 typ host\r\n", maxTrickleCandidates+1), http.StatusBadRequest, "more than"},
	}
	for _, tc := range cases {
		code, text := ts.patch(t, tc.body)
		if code != tc.code || !strings.Contains(text, tc.text) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, code, text, tc.code, tc.text)
		}
		if n := ts.srv.Sessions("s"); n != 1 {
			t.Fatalf("%s: %d sessions, want the one session unaffected", tc.name, n)
		}
	}
	// Bad fragments changed nothing: the session still takes a good one.
	if code, text := ts.patch(t, ts.validFrag()); code != http.StatusNoContent {
		t.Fatalf("valid PATCH after bad ones: %d %s", code, text)
	}
}

// FuzzTricklePatch sends fuzzed trickle fragments to a real session.
// Properties: the answer is 204, or 400/413 with a reason in text; what
// parseTrickle refuses is always 400; the session survives and still takes
// a valid fragment.
func FuzzTricklePatch(f *testing.F) {
	ts := startTrickleSession(f)
	f.Add(ts.validFrag())
	f.Fuzz(func(t *testing.T, body string) {
		code, text := ts.patch(t, body)
		_, perr := parseTrickle([]byte(body))
		switch {
		case code == http.StatusNoContent && perr == nil:
		case code == http.StatusBadRequest && strings.TrimSpace(text) != "":
		case code == http.StatusRequestEntityTooLarge && len(body) > MaxSDPSize:
		default:
			t.Fatalf("PATCH %q: %d %q (parse: %v)", body, code, text, perr)
		}
		if perr != nil && code != http.StatusBadRequest && len(body) <= MaxSDPSize {
			t.Fatalf("parseTrickle refused %q (%v) but the answer is %d", body, perr, code)
		}
		if n := ts.srv.Sessions("s"); n != 1 {
			t.Fatalf("after PATCH %q: %d sessions, want 1", body, n)
		}
		if code, text := ts.patch(t, ts.validFrag()); code != http.StatusNoContent {
			t.Fatalf("after PATCH %q a valid one got %d %s", body, code, text)
		}
	})
}
