package whep

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// TestMoveTellsPlayersAndWaitsForThem: Move sends each player its notice on
// the events channel, refuses new offers with 503 and Retry-After, and
// returns once the told player has ended its session (as a page does after
// it plays elsewhere), not before.
func TestMoveTellsPlayersAndWaitsForThem(t *testing.T) {
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer closeICE()
	m, _ := mediametrics.New(prometheus.NewRegistry())
	st := stream.New("s", time.Second)
	st.SetTracks(stream.Tracks{Video: &stream.Codec{MimeType: "video/H264", ClockRate: 90000, SDPFmtpLine: media.H264Fmtp}})
	srv := NewServer(ServerParams{Budget: benchBudget, API: api, Source: staticSource{st}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: m, Role: "edge", Events: &fakeFeed{}})
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()

	notices := make(chan string, 100)
	var once sync.Once
	ready := make(chan struct{})
	c, err := Dial(context.Background(), ClientParams{API: api, HTTP: hs.Client(), URL: hs.URL + "/whep/s", NoAudio: true,
		OnPacket: func(stream.Kind, *rtp.Packet) {},
		OnEvent: func(msg []byte) {
			once.Do(func() { close(ready) }) // the channel is open: the feed's first message came
			if strings.Contains(string(msg), "moving") {
				notices <- string(msg)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		t.Fatal("events channel never delivered")
	}

	type result struct{ told, left int }
	done := make(chan result, 1)
	go func() {
		told, left := srv.Move(context.Background(), func(i int) []byte { return []byte(`{"v":1,"type":"moving","to":"http://b"}`) })
		done <- result{told, left}
	}()
	select {
	case n := <-notices:
		if n != `{"v":1,"type":"moving","to":"http://b"}` {
			t.Fatalf("notice %q", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the player was not told to move")
	}
	// New offers are refused while moving.
	_, err = Dial(context.Background(), ClientParams{API: api, HTTP: hs.Client(), URL: hs.URL + "/whep/s", NoAudio: true,
		OnPacket: func(stream.Kind, *rtp.Packet) {}})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable || !strings.Contains(se.Body, "draining") {
		t.Fatalf("offer while moving: %v", err)
	}
	select {
	case r := <-done:
		t.Fatalf("Move returned %+v before the player left", r)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil { // DELETE of the session
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.told != 1 || r.left != 1 {
			t.Fatalf("Move: told %d, left %d; want 1, 1", r.told, r.left)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Move did not return after the player left")
	}
}
