package whep

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/internal/leakcheck"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// countingSource hands out one stream and counts releases.
type countingSource struct {
	st       *stream.Stream
	released atomic.Int32
}

func (s *countingSource) Acquire(context.Context, string) (*stream.Stream, func(), error) {
	return s.st, func() { s.released.Add(1) }, nil
}

// TestOfferAbandonedWhenTheClientLeaves: a client that goes away while
// the server waits for its session's ICE candidates (made here to never
// complete) ends the request at once, not when the wait runs out, and
// leaves nothing behind: no session, the stream released, the peer
// connection closed and its goroutines gone.
func TestOfferAbandonedWhenTheClientLeaves(t *testing.T) {
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer closeICE()
	m, err := mediametrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	st := stream.New("s", time.Second)
	st.SetTracks(stream.Tracks{Video: &stream.Codec{MimeType: media.MimeH264, ClockRate: media.VideoClockRate, SDPFmtpLine: media.H264Fmtp}})
	src := &countingSource{st: st}
	srv := NewServer(ServerParams{API: api, Source: src, Logger: slog.New(slog.DiscardHandler), Metrics: m, Role: "origin"})
	defer srv.Close()
	waiting := make(chan *webrtc.PeerConnection, 1)
	srv.gathered = func(pc *webrtc.PeerConnection) <-chan struct{} {
		waiting <- pc
		return nil // never: only the client leaving or gatherWait ends the wait
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	handled := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		close(handled)
	}))
	defer hs.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hs.URL+"/whep/s", strings.NewReader(chromiumOffer))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	posted := make(chan error, 1)
	go func() {
		resp, err := hs.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		posted <- err
	}()
	var pc *webrtc.PeerConnection
	select {
	case pc = <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the server never waited for ICE candidates")
	}
	left := time.Now()
	cancel()
	if err := <-posted; !errors.Is(err, context.Canceled) {
		t.Fatalf("request: %v, want it cancelled", err)
	}
	select {
	case <-handled:
	case <-time.After(gatherWait):
		t.Fatalf("the handler still waited %v after the client left", gatherWait)
	}
	if took := time.Since(left); took > gatherWait/3 {
		t.Fatalf("the handler ended %v after the client left", took)
	}
	if n := srv.Sessions(""); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	if n := src.released.Load(); n != 1 {
		t.Fatalf("stream released %d times, want 1", n)
	}
	if s := pc.ConnectionState(); s != webrtc.PeerConnectionStateClosed {
		t.Fatalf("the session's peer connection is %s", s)
	}
	if n := testutil.ToFloat64(m.SetupFailures.WithLabelValues("client_gone")); n != 1 {
		t.Fatalf("%v setups counted as abandoned by the client, want 1", n)
	}
	if leak := leakcheck.Leaked(5*time.Second, "whep.(*session)", "webrtc.(*PeerConnection)", "ice.(*Agent)", "fanout.(*writer)"); leak != "" {
		t.Fatalf("goroutines left behind:\n%s", leak)
	}
}

// TestDialNeedsAnHTTPClient: Dial does not fall back to a default client.
func TestDialNeedsAnHTTPClient(t *testing.T) {
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer closeICE()
	if _, err := Dial(context.Background(), ClientParams{API: api, URL: "http://127.0.0.1:9/whep/s"}); !errors.Is(err, errNoHTTPClient) {
		t.Fatalf("Dial without an HTTP client: %v, want %v", err, errNoHTTPClient)
	}
}
