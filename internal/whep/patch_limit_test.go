package whep

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// TestPatchOverLimitIs413: trickled candidates past MaxSDPSize are refused
// with 413 naming the limit, not cut short and applied; the session lives on.
func TestPatchOverLimitIs413(t *testing.T) {
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer closeICE()
	m, _ := mediametrics.New(prometheus.NewRegistry())
	st := stream.New("s", time.Second)
	st.SetTracks(stream.Tracks{Video: &stream.Codec{MimeType: "video/H264", ClockRate: 90000, SDPFmtpLine: media.H264Fmtp}})
	srv := NewServer(ServerParams{API: api, Source: staticSource{st}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: m, Role: "origin"})
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()
	c, err := Dial(context.Background(), ClientParams{API: api, HTTP: hs.Client(), URL: hs.URL + "/whep/s", NoAudio: true,
		OnPacket: func(stream.Kind, *rtp.Packet) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	loc := c.Location()
	if !strings.HasPrefix(loc, "http") {
		loc = hs.URL + loc
	}
	patch := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPatch, loc, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := patch(strings.Repeat("a=x\n", MaxSDPSize)); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "over 65536 bytes") {
		t.Fatalf("oversized PATCH: %d %q, want 413 naming the limit", code, body)
	}
	if code, body := patch("a=end-of-candidates\n"); code != http.StatusNoContent {
		t.Fatalf("PATCH after the refusal: %d %q, want 204", code, body)
	}
}
