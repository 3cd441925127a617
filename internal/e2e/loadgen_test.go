package e2e

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/app"
)

// TestLoadgenViewersOnOneUDPPort runs `livedrop loadgen viewers` against an
// edge that carries all media on one UDP port: every session is up, starts
// on a keyframe, loses nothing, every viewer's server side is the same
// port, and every session's media takes the direct path.
func TestLoadgenViewersOnOneUDPPort(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil) // on a UDP port of its own
	port := e.udpPort
	pub := startFFmpeg(t, encodeArgs(60), publishURL(o, "load", pubUser, pubPass))
	waitOnline(t, o, "load", pub)
	url := "http://" + e.HTTPAddr() + "/whep/load"

	var out strings.Builder
	err := app.Main(context.Background(), []string{"loadgen", "viewers", "--url", url, "-n", "20",
		"--ramp", "1s", "--duration", "3s", "--pid", strconv.Itoa(os.Getpid()), "--json"},
		app.Env{Stdout: &out, Stderr: io.Discard})
	if err != nil {
		t.Fatalf("loadgen: %v", err)
	}
	type percentiles struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	}
	var sum struct {
		SessionsUp    int         `json:"sessions_up"`
		NoKeyframe    int         `json:"sessions_without_keyframe"`
		VideoPackets  int64       `json:"video_packets"`
		AudioPackets  int64       `json:"audio_packets"`
		SequenceGaps  int64       `json:"sequence_gaps"`
		PacketsPerSec float64     `json:"packets_per_second"`
		CPU           float64     `json:"target_cpu_seconds"`
		FirstKeyframe percentiles `json:"first_keyframe_ms"`
		FirstPacket   percentiles `json:"first_packet_ms"`
		KeyframeWait  percentiles `json:"keyframe_wait_ms"`
	}
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if sum.SessionsUp != 20 || sum.NoKeyframe != 0 || sum.VideoPackets < 20*60 || sum.AudioPackets == 0 {
		t.Fatalf("summary: %s", out.String())
	}
	if sum.SequenceGaps > sum.VideoPackets/1000 {
		t.Fatalf("%d sequence gaps in %d packets on loopback", sum.SequenceGaps, sum.VideoPackets)
	}
	t.Logf("first keyframe p50 %.0f ms, p99 %.0f ms (setup p50 %.0f, p99 %.0f; then waiting p50 %.0f, p99 %.0f); %.0f packets/s",
		sum.FirstKeyframe.P50, sum.FirstKeyframe.P99, sum.FirstPacket.P50, sum.FirstPacket.P99,
		sum.KeyframeWait.P50, sum.KeyframeWait.P99, sum.PacketsPerSec)
	// Every session started from the kept GOP: its first packet was the
	// keyframe. Waiting for the source's (2 s GOP) would take 1 s at p50.
	// The setup before it (ICE, DTLS) is left out: it is what a loaded
	// machine stretches, and the GOP start cannot shorten it.
	if gs := counterValue(t, e.reg, "livedrop_gop_starts_total", nil); gs != 20 {
		t.Fatalf("%v GOP starts for 20 sessions", gs)
	}
	if sum.FirstKeyframe.P50 <= 0 || sum.KeyframeWait.P99 > 300 {
		t.Fatalf("first keyframe p50 %v ms, waited for it after the first packet p50 %v p99 %v ms (the GOP start should send it first)",
			sum.FirstKeyframe.P50, sum.KeyframeWait.P50, sum.KeyframeWait.P99)
	}
	if sum.CPU <= 0 || sum.PacketsPerSec <= 0 {
		t.Fatalf("no CPU or rate measured: %s", out.String())
	}

	// One socket: every session's server-side candidate is the mux port.
	for i := 0; i < 3; i++ {
		v := mustViewer(t, url)
		waitFor(t, 10*time.Second, "video", func() bool { return v.frames() > 0 })
		pair, err := v.c.PeerConnection().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("no selected pair: %v", err)
		}
		if int(pair.Remote.Port) != port {
			t.Fatalf("session %d uses server port %d, want the mux port %d", i, pair.Remote.Port, port)
		}
	}
	// Every session on the mux took the direct path: the node protected its
	// packets itself (the viewers above decoded them, so the keys were right).
	direct := counterValue(t, e.reg, "livedrop_media_session_paths_total", map[string]string{"path": "direct"})
	viaPion := counterValue(t, e.reg, "livedrop_media_session_paths_total", map[string]string{"path": "pion"})
	if direct != 23 || viaPion != 0 {
		t.Fatalf("session paths: %v direct, %v through pion; want 23 direct", direct, viaPion)
	}
}
