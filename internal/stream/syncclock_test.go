package stream

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// feed sends 3 s of a source through c: video frames every 33 ms arriving
// vDelay after capture, and audio packets of audioMs arriving aDelay after
// their last sample, each with some jitter; it returns the largest gap
// between the time of an audio packet and that of the video captured
// with it, after the first second.
func feed(t *testing.T, c *SyncClock, vDelay, aDelay time.Duration, audioMs int) time.Duration {
	t.Helper()
	jitter := []time.Duration{3, 0, 9, 1, 14, 2, 0, 6}
	var worst time.Duration
	for ms := 0; ms < 3000; ms++ {
		capture := time.Duration(ms) * time.Millisecond
		j := jitter[ms%len(jitter)] * time.Millisecond
		var v, a time.Time
		if ms%33 == 0 {
			v = c.Time(Video, 1000+uint32(ms*90), 0, t0.Add(capture+vDelay+j))
		}
		if ms%audioMs == 0 {
			a = c.Time(Audio, 5000+uint32(ms*8), uint32(audioMs*8), t0.Add(capture+time.Duration(audioMs)*time.Millisecond+aDelay+j))
		}
		if ms < 1000 || v.IsZero() || a.IsZero() {
			continue
		}
		worst = max(worst, absDuration(a.Sub(v)))
	}
	return worst
}

// TestSyncClockKeepsTheSourcesSync: packets of a track are placed by its
// RTP clock, not their arrival: 128 ms G.711 packets (sent once their
// last sample is in) and jitter do not move the audio against the video;
// sender reports that agree with the arrivals place both tracks with one
// delay (audio that the camera delays by 150 ms more than its video is
// put back with it); reports that disagree by seconds are not believed.
func TestSyncClockKeepsTheSourcesSync(t *testing.T) {
	for _, tc := range []struct {
		name           string
		vDelay, aDelay time.Duration
		audioMs        int
		reports        func(c *SyncClock)
		want           time.Duration
	}{
		{"no reports, aggregated audio", 5 * time.Millisecond, 5 * time.Millisecond, 128, nil, 4 * time.Millisecond},
		{"no reports, 20 ms audio", 5 * time.Millisecond, 7 * time.Millisecond, 20, nil, 6 * time.Millisecond},
		{"reports believed", 5 * time.Millisecond, 155 * time.Millisecond, 20, func(c *SyncClock) {
			src := t0.Add(-time.Hour) // the camera's clock is an hour behind
			c.Report(Video, src, 1000)
			c.Report(Audio, src, 5000)
		}, time.Millisecond},
		{"reports that disagree by seconds", 5 * time.Millisecond, 5 * time.Millisecond, 20, func(c *SyncClock) {
			c.Report(Video, t0.Add(2500*time.Millisecond), 1000)
			c.Report(Audio, t0, 5000)
		}, 4 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c SyncClock
			c.SetRate(Video, 90000)
			c.SetRate(Audio, 8000)
			if tc.reports != nil {
				tc.reports(&c)
			}
			if got := feed(t, &c, tc.vDelay, tc.aDelay, tc.audioMs); got > tc.want {
				t.Fatalf("audio placed up to %v from the video captured with it, want at most %v", got, tc.want)
			}
		})
	}
}

// TestSyncClockStartsOver: a reset forgets the source; a jump in the
// timestamps starts the track over at its arrival.
func TestSyncClockStartsOver(t *testing.T) {
	var c SyncClock
	c.SetRate(Audio, 48000)
	if at := c.Time(Audio, 7, 960, t0); !at.Equal(t0.Add(-20 * time.Millisecond)) {
		t.Fatalf("first 20 ms packet at %v, want 20 ms before its arrival (its end arrived)", at.Sub(t0))
	}
	if got := c.Time(Audio, 7+4800, 960, t0.Add(130*time.Millisecond)); got.Sub(t0.Add(80*time.Millisecond)).Abs() > time.Millisecond {
		t.Fatalf("100 ms of RTP clock later, arriving 30 ms late: at %v, want 80 ms", got.Sub(t0))
	}
	if got := c.Time(Audio, 7+48000*60, 0, t0.Add(time.Second)); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("after a jump: at %v, want the arrival", got.Sub(t0))
	}
	c.Reset()
	if at := c.Time(Audio, 99, 0, t0.Add(time.Hour)); !at.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after a reset: at %v, want the arrival", at.Sub(t0))
	}
	var none SyncClock
	if at := none.Time(Video, 1, 0, t0); !at.Equal(t0) {
		t.Fatal("a track without a clock rate is placed at its arrival")
	}
}
