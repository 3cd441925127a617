package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestChromiumPlaysTheViewerPage opens /watch/{stream} at an edge in headless
// Chromium and checks what a viewer sees: frames decoded, status "playing".
func TestChromiumPlaysTheViewerPage(t *testing.T) {
	o := startOrigin(t, nil)
	// The edge carries media on one UDP port (the harness's default), so
	// Chromium's session takes the direct path: the edge protects the
	// packets itself.
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	// ffmpeg with -c copy would send SPS/PPS only in the SDP; the encoder
	// here does the same (global header): the origin must inject them.
	pub := startFFmpeg(t, encodeArgs(30), publishURL(o, "live", pubUser, pubPass))
	waitOnline(t, o, "live", pub)

	b := chrometest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	page, err := b.Open(ctx, "http://"+e.HTTPAddr()+"/watch/live")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	if err := page.WaitFor(ctx, `(async () => (await window.livedrop.framesDecoded()) > 30)()`, 30*time.Second); err != nil {
		status, _ := page.Text(ctx, `[data-testid="status"]`)
		t.Fatalf("Chromium decoded too few frames (status %q, console %v): %v", status, page.Console(), err)
	}
	if err := page.WaitFor(ctx, `document.querySelector('[data-testid="status"]').textContent.trim() === "playing"`, 10*time.Second); err != nil {
		status, _ := page.Text(ctx, `[data-testid="status"]`)
		t.Fatalf("page status is %q, want playing", status)
	}
	// The answer gives Chromium its RTX stream for retransmissions, and the
	// GCM SRTP profile Chromium picks when we are the DTLS server.
	var rtx bool
	if err := page.Eval(ctx, `/a=rtpmap:\d+ rtx\/90000/.test(window.livedrop.pc.remoteDescription.sdp) && /a=ssrc-group:FID/.test(window.livedrop.pc.remoteDescription.sdp)`, &rtx); err != nil || !rtx {
		t.Fatalf("answer negotiates no RTX stream (%v)", err)
	}
	var srtp string
	if err := page.Eval(ctx, `(async () => { let p = ''; (await window.livedrop.pc.getStats()).forEach((r) => { if (r.type === 'transport') p = r.srtpCipher || ''; }); return p; })()`, &srtp); err != nil || !strings.Contains(srtp, "GCM") {
		t.Fatalf("SRTP cipher %q (%v), want an AEAD GCM profile", srtp, err)
	}
	var width int
	if err := page.Eval(ctx, `document.querySelector('[data-testid="video"]').videoWidth`, &width); err != nil || width != 320 {
		t.Fatalf("video width %d (%v), want 320", width, err)
	}
	_ = page.Screenshot(ctx, filepath.Join(t.TempDir(), "watch.png"))
	if got := counterValue(t, e.reg, "livedrop_viewers", map[string]string{"stream": "live"}); got != 1 {
		t.Fatalf("edge counts %v viewers, want 1", got)
	}
	if got := counterValue(t, e.reg, "livedrop_media_session_paths_total", map[string]string{"path": "direct"}); got != 1 {
		t.Fatalf("%v sessions on the direct path, want Chromium's", got)
	}
	// Chromium read the session's sender reports (it keeps audio and video
	// in sync with them): its stats show what they said was sent.
	if err := page.WaitFor(ctx, `(async () => { let n = 0; (await window.livedrop.pc.getStats()).forEach((r) => { if (r.type === 'remote-outbound-rtp' && r.kind === 'video') n = r.reportsSent; }); return n >= 2; })()`, 10*time.Second); err != nil {
		t.Fatalf("Chromium got fewer than 2 sender reports for video: %v", err)
	}
	// Audio plays too. The edge holds audio for the next video frame
	// (audio_hold), so it arrives up to a frame interval late, packed
	// behind the frame: Chromium's jitter buffer absorbs that without
	// concealing (inventing) samples beyond its start.
	if err := page.WaitFor(ctx, `(async () => { let n = 0; (await window.livedrop.pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') n = r.totalSamplesReceived; }); return n >= 3 * 48000; })()`, 20*time.Second); err != nil {
		t.Fatalf("Chromium received under 3 s of audio: %v", err)
	}
	var audio struct {
		Packets   float64 `json:"packets"`
		Samples   float64 `json:"samples"`
		Concealed float64 `json:"concealed"`
		BufferMs  float64 `json:"bufferMs"`
	}
	if err := page.Eval(ctx, `(async () => { let a = {}; (await window.livedrop.pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'audio') a = {packets: r.packetsReceived, samples: r.totalSamplesReceived, concealed: r.concealedSamples, bufferMs: 1000 * r.jitterBufferDelay / Math.max(r.jitterBufferEmittedCount, 1)}; }); return a; })()`, &audio); err != nil {
		t.Fatal(err)
	}
	t.Logf("audio: %.0f packets, %.0f samples, %.0f concealed, jitter buffer %.0f ms", audio.Packets, audio.Samples, audio.Concealed, audio.BufferMs)
	if audio.Concealed > audio.Samples/10 {
		t.Fatalf("Chromium concealed %.0f of %.0f audio samples", audio.Concealed, audio.Samples)
	}
}
