package whep

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// TestSessionReportsReceiving: a pion player's session is known by its id,
// counts as receiving once the player's receiver reports say packets
// arrive, stops counting when they stop, and is claimed by one owner only.
func TestSessionReportsReceiving(t *testing.T) {
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer closeICE()
	m, _ := mediametrics.New(prometheus.NewRegistry())
	st := stream.New("s", time.Second)
	st.SetTracks(stream.Tracks{Video: &stream.Codec{MimeType: media.MimeH264, ClockRate: media.VideoClockRate, SDPFmtpLine: media.H264Fmtp}})
	srv := NewServer(ServerParams{Budget: benchBudget, API: api, Source: staticSource{st}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: m, Role: "edge"})
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()

	var got atomic.Int32
	c, err := Dial(context.Background(), ClientParams{API: api, HTTP: hs.Client(), URL: hs.URL + "/whep/s", NoAudio: true,
		OnPacket: func(stream.Kind, *rtp.Packet) { got.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	id := path.Base(c.Location())
	if _, ok := srv.Session("nope"); ok {
		t.Fatal("an unknown session is known")
	}
	info, ok := srv.Session(id)
	if !ok || info.Stream != "s" || !info.Receiving.IsZero() {
		t.Fatalf("session %q before media: %+v, %v", id, info, ok)
	}

	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() { // a source: a keyframe every 10 frames, 50 frames/s
		defer close(sent)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			p := make([]byte, 300)
			p[0] = 0x41
			if i%10 == 0 {
				p[0] = 0x65
			}
			st.WritePacket(&stream.Packet{Kind: stream.Video, Arrival: time.Now(), Payload: p, Keyframe: i%10 == 0,
				Header: rtp.Header{Version: 2, SequenceNumber: uint16(i + 1), Timestamp: uint32(i) * 1800, Marker: true}})
		}
	}()
	waitUntil(t, 15*time.Second, "receiver reports of received packets", func() bool {
		info, _ := srv.Session(id)
		return info.Connected && !info.Receiving.IsZero()
	})
	first, _ := srv.Session(id)
	// Reports keep coming; the run goes on.
	waitUntil(t, 10*time.Second, "a later report", func() bool {
		info, _ := srv.Session(id)
		return info.LastReport.After(first.LastReport)
	})
	if info, _ := srv.Session(id); !info.Receiving.Equal(first.Receiving) {
		t.Fatalf("run restarted: %v then %v", first.Receiving, info.Receiving)
	}
	close(stop)
	<-sent
	// No more packets: reports go on but say nothing new, so LastReport stays.
	reports := func() int {
		srv.mu.Lock()
		ss := srv.sessions[id]
		srv.mu.Unlock()
		ss.viewer.mu.Lock()
		defer ss.viewer.mu.Unlock()
		return ss.viewer.reports
	}
	n := reports()
	waitUntil(t, 10*time.Second, "reports after the last packet", func() bool { return reports() >= n+2 })
	stale, _ := srv.Session(id)
	n = reports()
	waitUntil(t, 10*time.Second, "two more reports", func() bool { return reports() >= n+2 })
	if info, _ := srv.Session(id); !info.LastReport.Equal(stale.LastReport) {
		t.Fatalf("reports without new packets count as receiving: %v then %v", stale.LastReport, info.LastReport)
	}

	if _, err := srv.Claim(id, "ann"); err != nil {
		t.Fatal(err)
	}
	if info, err := srv.Claim(id, "ann"); err != nil || info.Owner != "ann" {
		t.Fatalf("same owner again: %+v %v", info, err)
	}
	if _, err := srv.Claim(id, "bob"); !errors.Is(err, ErrClaimed) {
		t.Fatalf("another owner: %v, want ErrClaimed", err)
	}
	if _, err := srv.Claim("nope", "ann"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("unknown session: %v", err)
	}
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
