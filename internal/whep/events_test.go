package whep

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

type fakeFeed struct {
	mu   sync.Mutex
	subs int
}

func (f *fakeFeed) Subscribe(string) (<-chan []byte, func()) {
	f.mu.Lock()
	f.subs++
	f.mu.Unlock()
	ch := make(chan []byte, 100)
	for i := 0; i < 50; i++ {
		ch <- []byte(fmt.Sprintf(`{"seq":%d}`, i))
	}
	return ch, func() {
		f.mu.Lock()
		f.subs--
		f.mu.Unlock()
	}
}

func (f *fakeFeed) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs
}

func TestEventsDataChannelInOrder(t *testing.T) {
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer closeICE()
	m, _ := mediametrics.New(prometheus.NewRegistry())
	st := stream.New("s", time.Second)
	st.SetTracks(stream.Tracks{Video: &stream.Codec{MimeType: "video/H264", ClockRate: 90000, SDPFmtpLine: media.H264Fmtp}})
	feed := &fakeFeed{}
	srv := NewServer(ServerParams{Budget: benchBudget, API: api, Source: staticSource{st}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: m, Role: "origin", Events: feed})
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()

	var mu sync.Mutex
	var got []string
	c, err := Dial(context.Background(), ClientParams{API: api, HTTP: hs.Client(), URL: hs.URL + "/whep/s", NoAudio: true,
		OnPacket: func(stream.Kind, *rtp.Packet) {},
		OnEvent: func(msg []byte) {
			mu.Lock()
			got = append(got, string(msg))
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d of 50 messages", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, m := range got {
		if m != fmt.Sprintf(`{"seq":%d}`, i) {
			t.Fatalf("message %d is %s: out of order", i, m)
		}
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for feed.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("subscription not cancelled when the session ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
