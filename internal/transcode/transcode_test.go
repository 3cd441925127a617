package transcode

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func ffmpeg(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg not installed: run `make test`, which installs it")
	}
	return p
}

// aacUnits encodes seconds of a tone at rate Hz to AAC with ffmpeg, as a
// camera would, and returns its access units.
func aacUnits(t *testing.T, rate, seconds int) ([][]byte, *mpeg4audio.AudioSpecificConfig) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tone.aac")
	cmd := exec.Command(ffmpeg(t), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		"sine=frequency=440:sample_rate="+itoa(rate)+":duration="+itoa(seconds), "-ac", "2", "-c:a", "aac", "-f", "adts", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	var aus [][]byte
	for _, p := range pkts {
		aus = append(aus, p.AU)
	}
	return aus, &mpeg4audio.AudioSpecificConfig{Type: pkts[0].Type, SampleRate: pkts[0].SampleRate, ChannelCount: pkts[0].ChannelCount}
}

func itoa(n int) string { return strconv.Itoa(n) }

type outPkt struct {
	ts      uint32
	arrival time.Time
	got     time.Time
}

// TestAACBecomesOpusOnTheSourceClock: AAC fed at its real pace (44.1 kHz,
// with a gap of lost units in the middle) comes back as Opus packets of
// 20 ms whose timestamps are the source's (in 48 kHz units) within one
// Opus frame, across the gap, with under 100 ms added.
func TestAACBecomesOpusOnTheSourceClock(t *testing.T) {
	aus, cfg := aacUnits(t, 44100, 3)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out []outPkt
	tr, err := New(Params{FFmpeg: ffmpeg(t), Config: cfg, Logger: slog.New(slog.DiscardHandler), Metrics: m,
		Out: func(pkt *rtp.Packet, arrival time.Time) {
			mu.Lock()
			out = append(out, outPkt{ts: pkt.Timestamp, arrival: arrival, got: time.Now()})
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	const base = uint32(4_000_000_000) // wraps during the run
	const gapAt, gapLen = 60, 10
	var srcTS []uint32 // what was written, in 48 kHz units
	tick := time.NewTicker(time.Second * samplesPerAU / 44100)
	defer tick.Stop()
	for i, a := range aus {
		<-tick.C
		if i >= gapAt && i < gapAt+gapLen {
			continue // lost on the way in
		}
		ts := base + uint32(i*samplesPerAU)
		tr.Write(a, ts, time.Now())
		srcTS = append(srcTS, uint32(int64(ts)*OpusClockRate/44100))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(out)
		mu.Unlock()
		if n >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Opus packets out of %d AAC units in", n, len(srcTS))
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	got := slices.Clone(out)
	mu.Unlock()
	first48 := int64(base) * OpusClockRate / 44100
	var lat []time.Duration
	for i, p := range got {
		// Within a frame of a written unit's time, on the source clock.
		rel := int64(int32(p.ts - uint32(first48)))
		if rel < -960 || rel > int64(len(aus))*samplesPerAU*OpusClockRate/44100+960 {
			t.Fatalf("packet %d: timestamp %d is %d ticks from the source's start", i, p.ts, rel)
		}
		if i > 0 {
			if d := int32(p.ts - got[i-1].ts); d <= 0 {
				t.Fatalf("packet %d: timestamp went back by %d", i, -d)
			}
		}
		lat = append(lat, p.got.Sub(p.arrival))
	}
	// After the gap, audio is stamped past it: the lost units do not
	// delay what follows.
	gapEnd := int64((gapAt+gapLen)*samplesPerAU) * OpusClockRate / 44100
	var after int
	for _, p := range got {
		if int64(int32(p.ts-uint32(first48))) >= gapEnd {
			after++
		}
	}
	if after < 20 {
		t.Fatalf("only %d packets stamped after the gap", after)
	}
	slices.Sort(lat)
	if p50 := lat[len(lat)/2]; p50 > 100*time.Millisecond {
		t.Fatalf("added latency p50 %v, want at most 100 ms", p50)
	}
	t.Logf("%d packets; added latency p50 %v p90 %v", len(got), lat[len(lat)/2], lat[len(lat)*9/10])
	if testutil.ToFloat64(m.FramesOut) < 100 {
		t.Fatal("frames out not counted")
	}
}

// TestTranscoderRestartsAfterACrash: the child killed mid-stream is
// restarted with backoff, counted, and audio comes out again.
func TestTranscoderRestartsAfterACrash(t *testing.T) {
	aus, cfg := aacUnits(t, 48000, 4)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var n int
	tr, err := New(Params{FFmpeg: ffmpeg(t), Config: cfg, Logger: slog.New(slog.DiscardHandler), Metrics: m,
		Out: func(*rtp.Packet, time.Time) { mu.Lock(); n++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	pids := make(chan int, 4)
	tr.started = func(pid int) { pids <- pid }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	count := func() int { mu.Lock(); defer mu.Unlock(); return n }
	tick := time.NewTicker(time.Second * samplesPerAU / 48000)
	defer tick.Stop()
	killed := false
	var before int
	for i, a := range aus {
		<-tick.C
		tr.Write(a, uint32(i*samplesPerAU), time.Now())
		if i == 60 {
			before = count()
			if err := syscall.Kill(<-pids, syscall.SIGKILL); err != nil {
				t.Fatalf("kill the transcoder: %v", err)
			}
			killed = true
		}
	}
	if !killed || before == 0 {
		t.Fatalf("no audio before the kill (%d)", before)
	}
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(m.Restarts) < 1 || count() < before+40 {
		if time.Now().After(deadline) {
			t.Fatalf("restarts %v, packets %d (were %d at the kill): audio did not resume", testutil.ToFloat64(m.Restarts), count(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
