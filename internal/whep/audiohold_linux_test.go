package whep

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// TestAudioRidesInTheFramesDatagram runs the whole send path: a frame cut
// into pieces a byte apart (as the normalizer cuts), and an audio packet
// that arrived before it. With AudioHold the writer sends the audio after
// the frame, the direct path pads the pieces to one size, and the media
// socket sends all four in one GSO datagram; without, the audio leaves in
// a datagram of its own. The player gets every payload as it was sent.
func TestAudioRidesInTheFramesDatagram(t *testing.T) {
	for _, c := range []struct {
		hold     time.Duration
		perFrame int // datagrams a frame and its audio leave in
	}{{50 * time.Millisecond, 1}, {0, 2}} {
		t.Run(c.hold.String(), func(t *testing.T) {
			const frames = 40
			got := testAudioHold(t, c.hold, frames)
			// Besides media the socket carries a few datagrams of ICE
			// keepalives and RTCP sender reports.
			if got < c.perFrame*frames || got > c.perFrame*frames+6 {
				t.Fatalf("%d frames with their audio left in %d datagrams, want %d a frame", frames, got, c.perFrame)
			}
		})
	}
}

func testAudioHold(t *testing.T, hold time.Duration, frames int) (datagrams int) {
	stats := &peer.SendStats{}
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := peer.DefaultICEConfig()
	cfg.UDPPort = c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	srvAPI, closeMux, err := peer.NewAPI(cfg, peer.WithSendStats(stats))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeMux() })
	cliAPI, _, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	m, err := mediametrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	st := stream.New("hold", time.Second)
	st.SetTracks(stream.Tracks{
		Video: &stream.Codec{MimeType: "video/H264", ClockRate: 90000, SDPFmtpLine: media.H264Fmtp},
		Audio: &stream.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2},
	})
	srv := NewServer(ServerParams{Budget: benchBudget, API: srvAPI, Source: staticSource{st}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: m, Role: "edge", QueueSize: 1024, NoGOPStart: true, AudioHold: hold})
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})

	var (
		mu    sync.Mutex
		video []int // payload sizes received
		audio []int
	)
	cl, err := Dial(context.Background(), ClientParams{API: cliAPI, HTTP: hs.Client(), URL: hs.URL + "/whep/hold",
		OnPacket: func(k stream.Kind, p *rtp.Packet) {
			mu.Lock()
			defer mu.Unlock()
			if k == stream.Video {
				video = append(video, len(p.Payload))
			} else {
				audio = append(audio, len(p.Payload))
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	counts := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(video), len(audio)
	}

	var vseq, aseq uint16
	sizes := []int{1002, 1001, 1001}
	frame := func(i int, key bool) {
		now := time.Now()
		aseq++
		st.WritePacket(&stream.Packet{Kind: stream.Audio, Arrival: now, Payload: make([]byte, 200),
			Header: rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: uint32(i) * 960, Marker: true}})
		for j, n := range sizes {
			vseq++
			p := make([]byte, n)
			p[0] = 0x41 // a slice
			if key && j == 0 {
				p[0] = 0x65 // IDR: the viewer starts here
			}
			st.WritePacket(&stream.Packet{Kind: stream.Video, Arrival: now, Payload: p, Keyframe: key && j == 0,
				Header: rtp.Header{Version: 2, SequenceNumber: vseq, Timestamp: uint32(i) * 3000, Marker: j == len(sizes)-1}})
		}
	}
	// Start: keyframes until the session is on the direct path and gets
	// them.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		if v, _ := counts(); v >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the viewer got no video")
		}
		frame(i, true)
		time.Sleep(20 * time.Millisecond)
	}
	if n := testutil.ToFloat64(m.SessionPaths.WithLabelValues("direct")); n != 1 {
		t.Fatalf("%v sessions on the direct path, want the viewer's", n)
	}
	// Count the datagrams of frames sent one at a time, each once the one
	// before has arrived.
	waitUntil := func(v, a int) {
		t.Helper()
		end := time.Now().Add(5 * time.Second)
		for {
			gv, ga := counts()
			if gv >= v && ga >= a {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("the viewer has %d video and %d audio packets, want %d and %d", gv, ga, v, a)
			}
			time.Sleep(time.Millisecond)
		}
	}
	start := 1000
	v0, a0 := counts()
	frame(start, false)
	waitUntil(v0+3, a0+1) // the start-up frames' audio has left too
	mu.Lock()
	video, audio = video[:0], audio[:0]
	mu.Unlock()
	before := stats.Datagrams()
	for i := 1; i <= frames; i++ {
		frame(start+i, false)
		waitUntil(3*i, i)
	}
	datagrams = int(stats.Datagrams() - before)
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < frames; i++ {
		if !slices.Equal(video[3*i:3*i+3], sizes) || audio[i] != 200 {
			t.Fatalf("frame %d arrived as %v with audio %d, want %v and 200 (padding removed)", i, video[3*i:3*i+3], audio[i], sizes)
		}
	}
	return datagrams
}
