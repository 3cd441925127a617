package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/avc"
	"github.com/livedrop/livedrop/origin"
)

// checkContinuous fails on any gap or reorder in video sequence numbers.
func checkContinuous(t *testing.T, pkts []*rtp.Packet) {
	t.Helper()
	checkContinuousWithin(t, pkts, 90000)
}

// checkContinuousWithin is checkContinuous with timestamps allowed to jump
// ahead by up to maxJump ticks (a source outage: the timestamps follow the
// wall clock across it).
func checkContinuousWithin(t *testing.T, pkts []*rtp.Packet, maxJump int32) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		if pkts[i].SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("sequence gap: %d then %d (packet %d of %d)", pkts[i-1].SequenceNumber, pkts[i].SequenceNumber, i, len(pkts))
		}
		if d := int32(pkts[i].Timestamp - pkts[i-1].Timestamp); d < 0 || d > maxJump {
			t.Fatalf("timestamp jump of %d ticks at packet %d", d, i)
		}
	}
}

func TestFFmpegThroughOriginAndEdgeToPionViewer(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	pub := startFFmpeg(t, encodeArgs(30), publishURL(o, "cam1", pubUser, pubPass))
	waitOnline(t, o, "cam1", pub)

	v := mustViewer(t, "http://"+e.HTTPAddr()+"/whep/cam1")
	if tr := v.c.Tracks(); tr.Audio == nil || !strings.EqualFold(tr.Audio.MimeType, "audio/opus") {
		t.Fatalf("answer has no opus audio: %+v", tr)
	}
	waitFor(t, 15*time.Second, "90 video and 50 audio packets", func() bool {
		nv, na := v.counts()
		return nv >= 90 && na >= 50
	})
	pkts := v.videoPackets()
	if !avc.IsKeyframeStart(pkts[0].Payload) {
		t.Fatalf("first video packet (NAL type %d) does not start a keyframe", pkts[0].Payload[0]&0x1f)
	}
	checkContinuous(t, pkts)
	for _, p := range pkts {
		if len(p.Payload) > avc.DefaultMaxPayload {
			t.Fatalf("payload of %d bytes exceeds %d", len(p.Payload), avc.DefaultMaxPayload)
		}
	}
	aus := accessUnits(t, pkts)
	var types []byte
	for _, nalu := range aus[0] {
		types = append(types, nalu[0]&0x1f)
	}
	if fmt.Sprint(types[:3]) != fmt.Sprint([]byte{avc.TypeSPS, avc.TypePPS, avc.TypeIDR}) {
		t.Fatalf("first access unit has NAL types %v, want SPS, PPS, IDR first", types)
	}
	// What the viewer got decodes: ffmpeg reads every frame.
	if n := decodeFrames(t, aus); n < len(aus)-1 || n < 20 {
		t.Fatalf("ffmpeg decoded %d frames of %d access units", n, len(aus))
	}
	if got := counterValue(t, e.reg, "livedrop_viewers", map[string]string{"stream": "cam1", "region": "test-region"}); got != 1 {
		t.Fatalf("livedrop_viewers = %v, want 1", got)
	}
	if got := counterValue(t, o.reg, "livedrop_rtp_packets_received_total", map[string]string{"stream": "cam1", "kind": "audio"}); got == 0 {
		t.Fatal("origin counted no audio in")
	}
	if got := counterValue(t, e.reg, "livedrop_time_to_first_keyframe_seconds", nil); got != 1 {
		t.Fatalf("time to first keyframe observed %v times, want 1", got)
	}
}

func TestTwoViewersShareOneUpstream(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), func(c *edge.Config) { c.IdleTimeout = 200 * time.Millisecond })
	pub := startFFmpeg(t, encodeArgs(30), publishURL(o, "shared", pubUser, pubPass))
	waitOnline(t, o, "shared", pub)

	url := "http://" + e.HTTPAddr() + "/whep/shared"
	v1, v2 := mustViewer(t, url), mustViewer(t, url)
	waitFor(t, 15*time.Second, "both viewers to receive video", func() bool {
		a, _ := v1.counts()
		b, _ := v2.counts()
		return a > 30 && b > 30
	})
	if n := o.WHEPSessions("shared"); n != 1 {
		t.Fatalf("origin serves %d sessions to the edge, want 1 shared upstream", n)
	}
	if n := e.WHEPSessions("shared"); n != 2 {
		t.Fatalf("edge serves %d viewers, want 2", n)
	}
	// Both leave: the edge lets the upstream go after its idle timeout.
	closeViewer(t, v1)
	closeViewer(t, v2)
	waitFor(t, 10*time.Second, "the upstream to be released", func() bool {
		return e.Upstreams() == 0 && o.WHEPSessions("shared") == 0
	})
}

func TestBadInputIsRefusedAndOthersKeepPlaying(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)

	// Wrong RTSP credentials: ffmpeg is refused with 401, nothing is published.
	bad := startFFmpeg(t, encodeArgs(30), publishURL(o, "cam", pubUser, "wrong-password"))
	select {
	case <-bad.done:
	case <-time.After(20 * time.Second):
		t.Fatal("ffmpeg with a wrong password kept publishing")
	}
	if !strings.Contains(bad.stderr.String(), "401") {
		t.Fatalf("ffmpeg did not report 401: %s", bad.stderr.String())
	}
	if got := counterValue(t, o.reg, "livedrop_publish_auth_failures_total", nil); got < 1 {
		t.Fatalf("auth failures metric = %v", got)
	}

	good := startFFmpeg(t, encodeArgs(30), publishURL(o, "cam", pubUser, pubPass))
	waitOnline(t, o, "cam", good)
	v := mustViewer(t, "http://"+e.HTTPAddr()+"/whep/cam")

	post := func(path, ctype, body string) (int, string) {
		t.Helper()
		resp, err := http.Post("http://"+e.HTTPAddr()+path, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, path, ctype, body string
		code                    int
		text                    string
	}{
		{"garbage sdp", "/whep/cam", "application/sdp", "this is not sdp", 400, "malformed SDP offer"},
		{"empty offer", "/whep/cam", "application/sdp", "", 400, "empty body"},
		{"no h264", "/whep/cam", "application/sdp", vp8OnlyOffer, 400, "H.264"},
		{"wrong content type", "/whep/cam", "application/json", "{}", 415, "application/sdp"},
		{"oversized offer", "/whep/cam", "application/sdp", strings.Repeat("a", 70<<10), 413, "larger than"},
		{"unknown stream", "/whep/nosuch", "application/sdp", vp8OnlyOffer, 400, "H.264"},
		{"bad stream name", "/whep/bad%20name", "application/sdp", "x", 404, "unknown stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, text := post(tc.path, tc.ctype, tc.body)
			if code != tc.code || !strings.Contains(text, tc.text) {
				t.Fatalf("got %d %q, want %d containing %q", code, text, tc.code, tc.text)
			}
		})
	}
	// A well-formed offer for a stream nobody publishes gets 404.
	if _, err := dialViewer(t, "http://"+e.HTTPAddr()+"/whep/nosuch"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown stream: %v, want a 404", err)
	}
	// The viewer that was playing all along still receives video.
	before, _ := v.counts()
	waitFor(t, 10*time.Second, "the existing viewer to keep receiving", func() bool {
		n, _ := v.counts()
		return n > before+30
	})
	if got := counterValue(t, e.reg, "livedrop_session_setup_failures_total", map[string]string{"reason": "bad_offer"}); got < 2 {
		t.Fatalf("setup failures for bad offers = %v", got)
	}
}

func TestEdgeChainAndPullSource(t *testing.T) {
	// Origin A takes the publish; origin B pulls it from A over RTSP; an
	// edge pulls from B; a second edge pulls from the first edge.
	a := startOrigin(t, nil)
	pub := startFFmpeg(t, encodeArgs(30), publishURL(a, "cam", pubUser, pubPass))
	waitOnline(t, a, "cam", pub)
	b := startOrigin(t, func(c *origin.Config) {
		c.Pull = []origin.PullSource{{Stream: "pulled", URL: "rtsp://" + readUser + ":" + readPass + "@" + a.RTSPAddr() + "/cam"}}
	})
	waitFor(t, 15*time.Second, "origin B to pull the camera", func() bool {
		_, release, err := b.Acquire(t.Context(), "pulled")
		if err == nil {
			release()
		}
		return err == nil
	})
	e1 := startEdge(t, "http://"+b.HTTPAddr(), nil)
	e2 := startEdge(t, "http://"+e1.HTTPAddr(), nil)
	v := mustViewer(t, "http://"+e2.HTTPAddr()+"/whep/pulled")
	waitFor(t, 15*time.Second, "video through the chain", func() bool {
		n, _ := v.counts()
		return n > 60
	})
	pkts := v.videoPackets()
	if !avc.IsKeyframeStart(pkts[0].Payload) {
		t.Fatal("chain did not start the viewer on a keyframe")
	}
	checkContinuous(t, pkts)
	if n := decodeFrames(t, accessUnits(t, pkts)); n < 10 {
		t.Fatalf("decoded %d frames through the chain", n)
	}
	if e1.WHEPSessions("pulled") != 1 {
		t.Fatal("the second edge should be one session of the first")
	}
}

func TestViewersSurviveSourceRestart(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	url := publishURL(o, "cam", pubUser, pubPass)
	pub := startFFmpeg(t, encodeArgs(30), url)
	waitOnline(t, o, "cam", pub)
	v := mustViewer(t, "http://"+e.HTTPAddr()+"/whep/cam")
	waitFor(t, 15*time.Second, "video", func() bool { n, _ := v.counts(); return n > 40 })

	pub.stop()
	pub2 := startFFmpeg(t, encodeArgs(30), url)
	waitOnline(t, o, "cam", pub2)
	before, _ := v.counts()
	waitFor(t, 15*time.Second, "video from the new source on the same session", func() bool {
		n, _ := v.counts()
		return n > before+60
	})
	pkts := v.videoPackets()
	// Across the restart the timestamps jump by the outage, however long
	// the new publisher took to start (seconds on a loaded machine).
	checkContinuousWithin(t, pkts, 15*90000)
	select {
	case <-v.c.Done():
		t.Fatalf("viewer session ended: %v", v.c.Err())
	default:
	}
	if n := decodeFrames(t, accessUnits(t, pkts)); n < 40 {
		t.Fatalf("decoded %d frames across the restart", n)
	}
}

func closeViewer(t *testing.T, v *viewer) {
	t.Helper()
	if err := v.c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

const vp8OnlyOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=group:BUNDLE 0\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=setup:actpass\r\na=rtcp-mux\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n"
