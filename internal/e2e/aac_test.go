package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestAACCameraIsHeardAsOpus: a camera as ffmpeg publishes by default
// (H.264 and AAC over RTSP) is seen and heard by a viewer at the edge:
// the answer carries Opus, and the viewer gets 20 ms Opus packets whose
// timestamps advance with the audio; the video is untouched.
func TestAACCameraIsHeardAsOpus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"MPEG4-GENERIC", nil},
		{"MP4A-LATM", []string{"-rtpflags", "latm"}},
	} {
		t.Run(tc.name, func(t *testing.T) { testAACHeardAsOpus(t, tc.extra) })
	}
}

func testAACHeardAsOpus(t *testing.T, extra []string) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	args := append([]string(nil), encodeArgs(30)...)
	for i, a := range args {
		if a == "libopus" {
			args[i] = "aac" // ffmpeg's default audio codec
		}
	}
	args = append(args, extra...)
	pub := startFFmpeg(t, args, publishURL(o, "aaccam", pubUser, pubPass))
	waitOnline(t, o, "aaccam", pub)

	v := mustViewer(t, "http://"+e.HTTPAddr()+"/whep/aaccam")
	if tr := v.c.Tracks(); tr.Audio == nil || !strings.EqualFold(tr.Audio.MimeType, "audio/opus") {
		t.Fatalf("answer for an AAC camera has no Opus audio: %+v", tr)
	}
	waitFor(t, 20*time.Second, "30 frames and 100 Opus packets (2 s of sound)", func() bool {
		_, na := v.counts()
		return v.frames() >= 30 && na >= 100
	})
	v.mu.Lock()
	audio := append(v.audio[:0:0], v.audio...)
	v.mu.Unlock()
	var steps, frames20 int
	for i := 1; i < len(audio); i++ {
		d := int32(audio[i].Timestamp - audio[i-1].Timestamp)
		if d <= 0 {
			t.Fatalf("audio timestamp went back by %d at packet %d", -d, i)
		}
		steps++
		if d == 960 {
			frames20++
		}
	}
	// 20 ms frames at 48 kHz; a packet lost on loopback may make one step 1920.
	if frames20 < steps*9/10 {
		t.Fatalf("%d of %d audio steps are 20 ms (960 ticks)", frames20, steps)
	}
	if got := counterValue(t, o.reg, "livedrop_transcode_frames_out_total", nil); got < 100 {
		t.Fatalf("the origin counts %v transcoded frames", got)
	}
	if got := counterValue(t, o.reg, "livedrop_audio_tracks_dropped_total", map[string]string{"codec": "mpeg-4 audio"}); got != 0 {
		t.Fatalf("AAC counted as dropped %v times", got)
	}
}
