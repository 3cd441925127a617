package camera

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
)

// TestClipSpec checks the embedded clip against what browsers and the camera
// need; clip/make-clip.sh makes a clip that passes.
func TestClipSpec(t *testing.T) {
	if len(demoClip) > 3<<20 {
		t.Errorf("clip is %d bytes, want at most 3 MiB", len(demoClip))
	}
	c, err := demux(demoClip)
	if err != nil {
		t.Fatalf("demux: %v", err) // also refuses B-frames
	}

	var sps h264.SPS
	if err := sps.Unmarshal(c.sps); err != nil {
		t.Fatalf("SPS: %v", err)
	}
	if sps.ProfileIdc != 66 || !sps.ConstraintSet1Flag {
		t.Errorf("profile_idc %d constraint_set1 %v, want constrained baseline (66, true)",
			sps.ProfileIdc, sps.ConstraintSet1Flag)
	}
	// What Chromium offers and pion matches exactly (see clip/make-clip.sh).
	if got := fmt.Sprintf("%x", c.sps[1:4]); got != "42e01f" {
		t.Errorf("profile-level-id %s, want 42e01f", got)
	}
	if sps.Width() != 640 || sps.Height() != 360 {
		t.Errorf("size %dx%d, want 640x360", sps.Width(), sps.Height())
	}
	if c.frameTicks != ticksPerSecond/30 {
		t.Errorf("frame duration %d ticks, want %d (30 fps)", c.frameTicks, ticksPerSecond/30)
	}
	if d := durationFromTicks(c.period); d < 10*time.Second || d > 20*time.Second {
		t.Errorf("clip loops after %v, want 10-20 s", d)
	}
	if c.channels < 1 || c.channels > 2 {
		t.Errorf("%d Opus channels", c.channels)
	}

	// GOP: an IDR exactly every second, none elsewhere, each with SPS and
	// PPS in-band; Opus packets of 20 ms, back to back.
	var frames, idrs, opusPackets int
	var firstFrame, nextOpus int64 = -1, -1
	for _, u := range c.units {
		if u.au == nil {
			if nextOpus >= 0 && u.at != nextOpus {
				t.Fatalf("Opus packet at %d, want %d", u.at, nextOpus)
			}
			nextOpus = u.at + opus.PacketDuration2(u.packet)*ticksPerSecond/opusClockRate
			opusPackets++
			continue
		}
		if firstFrame < 0 {
			firstFrame = u.at
		}
		wantIDR := (u.at-firstFrame)%ticksPerSecond == 0
		if u.idr != wantIDR {
			t.Fatalf("frame %d at %d: IDR %v, want %v (1 s GOP)", frames, u.at, u.idr, wantIDR)
		}
		if u.idr {
			idrs++
			if !bytes.Equal(u.au[0], c.sps) || !bytes.Equal(u.au[1], c.pps) {
				t.Fatalf("IDR %d does not start with SPS and PPS", idrs)
			}
		}
		frames++
	}
	if opusPackets == 0 {
		t.Fatal("no Opus packets")
	}
	if int64(opusPackets)*960*ticksPerSecond/opusClockRate != c.period {
		t.Errorf("%d Opus packets of 20 ms do not fill the %d-tick loop", opusPackets, c.period)
	}
	if int64(frames)*c.frameTicks != c.period {
		t.Errorf("%d frames do not fill the %d-tick loop", frames, c.period)
	}
	t.Logf("%d bytes, %d frames, %d IDRs, %d Opus packets (%d ch), loop %v, SPS %x",
		len(demoClip), frames, idrs, opusPackets, c.channels, durationFromTicks(c.period), c.sps[1:4])
}

func TestDemuxRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not mpeg-ts", bytes.Repeat([]byte("livedrop"), 1000)},
		{"truncated", demoClip[:188*8]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := demux(tc.data); err == nil {
				t.Fatal("demux succeeded")
			}
		})
	}
}

func TestCut(t *testing.T) {
	c, err := demux(demoClip)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := c.cut(2 * time.Second)
	if err != nil {
		t.Fatalf("cut at 2s: %v", err)
	}
	if cut.period != 2*ticksPerSecond {
		t.Errorf("period %d, want %d", cut.period, 2*ticksPerSecond)
	}
	for _, u := range cut.units {
		if u.at >= cut.period {
			t.Fatalf("unit at %d past the cut", u.at)
		}
	}
	if _, err := c.cut(1500 * time.Millisecond); err == nil {
		t.Error("cut in mid-GOP succeeded")
	}
	if _, err := c.cut(time.Minute); err == nil {
		t.Error("cut past the end succeeded")
	}
}

// testLogger logs to t.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimSuffix(p, []byte("\n"))))
	return len(p), nil
}
