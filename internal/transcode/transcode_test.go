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
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func ffmpeg(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg not installed: run `make test`, which installs it")
	}
	return p
}

// aacUnits encodes seconds of a tone at rate Hz to AAC with ffmpeg, as a
// camera would, and returns its access units.
func aacUnits(t testing.TB, rate, seconds int) ([][]byte, *mpeg4audio.AudioSpecificConfig) {
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
	ts          uint32
	arrival, at time.Time
	got         time.Time
}

// TestAACBecomesOpusOnTheSourceClock: AAC fed at its real pace (44.1 kHz,
// with a gap of lost units in the middle) comes back as Opus packets of
// 20 ms whose timestamps are the source's (in 48 kHz units) within one
// Opus frame, across the gap, with the media time of the audio they carry
// (not the time they came out), with under 100 ms added.
func TestAACBecomesOpusOnTheSourceClock(t *testing.T) {
	aus, cfg := aacUnits(t, 44100, 3)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out []outPkt
	tr, err := New(Params{FFmpeg: ffmpeg(t), Config: cfg, Logger: slog.New(slog.DiscardHandler), Metrics: m,
		Out: func(pkt *rtp.Packet, arrival, at time.Time) {
			mu.Lock()
			out = append(out, outPkt{ts: pkt.Timestamp, arrival: arrival, at: at, got: time.Now()})
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
	// Each unit's media time: its capture time on the node's clock, by the
	// source's reports; an Opus packet gets the time of the audio it carries.
	epoch := time.Now().Add(-time.Hour)
	mediaTime := func(ts uint32) time.Time {
		return epoch.Add(time.Duration(int32(ts-base)) * time.Second / 44100)
	}
	tick := time.NewTicker(time.Second * samplesPerAU / 44100)
	defer tick.Stop()
	for i, a := range aus {
		<-tick.C
		if i >= gapAt && i < gapAt+gapLen {
			continue // lost on the way in
		}
		ts := base + uint32(i*samplesPerAU)
		now := time.Now()
		tr.Write(a, ts, now, mediaTime(ts))
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
		if want := epoch.Add(time.Duration(rel) * time.Second / OpusClockRate); p.at.Sub(want).Abs() > time.Millisecond {
			t.Fatalf("packet %d: media time %v, want %v (the source's at its timestamp)", i, p.at.Sub(epoch), want.Sub(epoch))
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
		Out: func(*rtp.Packet, time.Time, time.Time) { mu.Lock(); n++; mu.Unlock() }})
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
		now := time.Now()
		tr.Write(a, uint32(i*samplesPerAU), now, now)
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

// TestOpusCarriesTheSoundsSourceTime: a tone that starts at whole seconds
// of the source, through the transcoder, starts at those seconds by the
// media times of the Opus packets that carry it, decoded as a player
// decodes (ffmpeg, from an Ogg file): the decoder's priming is accounted
// for, so the sound neither leads nor lags the picture it was captured
// with.
func TestOpusCarriesTheSoundsSourceTime(t *testing.T) {
	for _, rate := range []int{48000, 44100} {
		t.Run(itoa(rate), func(t *testing.T) { testSourceTime(t, rate) })
	}
}

func testSourceTime(t *testing.T, rate int) {
	out := filepath.Join(t.TempDir(), "beeps.aac")
	cmd := exec.Command(ffmpeg(t), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		"aevalsrc=exprs='0.5*sin(2*PI*440*t)*lt(mod(t,1),0.6)':s="+itoa(rate)+":d=4", "-c:a", "aac", "-f", "adts", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var adts mpeg4audio.ADTSPackets
	if err := adts.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	cfg := &mpeg4audio.AudioSpecificConfig{Type: adts[0].Type, SampleRate: adts[0].SampleRate, ChannelCount: adts[0].ChannelCount}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var pkts []*rtp.Packet
	var ats []time.Time
	tr, err := New(Params{FFmpeg: ffmpeg(t), Config: cfg, Logger: slog.New(slog.DiscardHandler), Metrics: m,
		Out: func(pkt *rtp.Packet, _, at time.Time) {
			mu.Lock()
			pkts = append(pkts, pkt)
			ats = append(ats, at)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	epoch := time.Now().Add(-time.Hour)
	tick := time.NewTicker(time.Second * samplesPerAU / time.Duration(rate))
	defer tick.Stop()
	for i, p := range adts {
		<-tick.C
		// As a camera (or ffmpeg) stamps AAC: a unit's timestamp is its
		// content's; the first unit is the encoder's priming, before 0.
		ts := uint32(i*samplesPerAU) - samplesPerAU
		tr.Write(p.AU, ts, time.Now(), epoch.Add(time.Duration(int32(ts))*time.Second/time.Duration(rate)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(pkts)
		mu.Unlock()
		if n >= 3*50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Opus packets", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	ogg := filepath.Join(t.TempDir(), "out.ogg")
	w, err := oggwriter.New(ogg, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()
	raw, err := exec.Command(ffmpeg(t), "-v", "error", "-i", ogg, "-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	const preSkip = 3840 // pion's oggwriter's, which ffmpeg drops
	last := -48000
	var onsets []time.Duration
	for i := 0; i+1 < len(raw)/2; i++ {
		x := int16(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
		if x > 6554 || x < -6554 {
			if i-last >= 48000/5 && i > 48000/2 { // the first second's start is cut by the child's start
				q := i + preSkip
				k := q / 960
				onsets = append(onsets, ats[k].Add(time.Duration(q%960)*time.Second/48000).Sub(epoch))
			}
			last = i
		}
	}
	t.Logf("%d Hz: tone onsets at %v by the packets' media times", rate, onsets)
	if len(onsets) < 3 {
		t.Fatalf("found %d tone onsets after the first, want 3", len(onsets))
	}
	for _, on := range onsets {
		whole := on.Round(time.Second)
		if d := on - whole; d.Abs() > 5*time.Millisecond {
			t.Errorf("the tone starting at %v of the source starts at %v by the Opus packets' media times (%v off)", whole, on, d)
		}
	}
}

// TestCorruptAACCostsOnlyTheAudio: access units of garbage in the middle
// of a stream never block the writer (the caller is the video's packet
// path), and the sound comes back within 2 s of the last bad unit,
// whether the child skips them or dies on them.
func TestCorruptAACCostsOnlyTheAudio(t *testing.T) {
	aus, cfg := aacUnits(t, 48000, 5)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var outs []time.Time
	tr, err := New(Params{FFmpeg: ffmpeg(t), Config: cfg, Logger: slog.New(slog.DiscardHandler), Metrics: m,
		Out: func(*rtp.Packet, time.Time, time.Time) { mu.Lock(); outs = append(outs, time.Now()); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	tick := time.NewTicker(time.Second * samplesPerAU / 48000)
	defer tick.Stop()
	garbage := make([]byte, 300)
	for i := range garbage {
		garbage[i] = byte(i*131 + 7)
	}
	var lastBad time.Time
	var slowest time.Duration
	for i, a := range aus {
		<-tick.C
		if i >= 60 && i < 90 {
			a = garbage
		}
		start := time.Now()
		tr.Write(a, uint32(i*samplesPerAU), start, start)
		slowest = max(slowest, time.Since(start))
		if i == 89 {
			lastBad = time.Now()
		}
	}
	// A Write that waited on ffmpeg (its pipe full while it chokes on the
	// garbage or restarts) would take its restart backoff, hundreds of ms;
	// a few ms are the scheduler on a loaded machine.
	if slowest > 200*time.Millisecond {
		t.Errorf("a Write took %v: the video's packet path must never wait on the transcoder", slowest)
	}
	mu.Lock()
	defer mu.Unlock()
	var back time.Time
	for _, at := range outs {
		if at.After(lastBad.Add(100 * time.Millisecond)) {
			back = at
			break
		}
	}
	if back.IsZero() {
		t.Fatalf("no sound after the bad units (%d packets in all, restarts %v)", len(outs), testutil.ToFloat64(m.Restarts))
	}
	t.Logf("sound %v after the last bad unit; restarts %v", back.Sub(lastBad), testutil.ToFloat64(m.Restarts))
	if d := back.Sub(lastBad); d > 2*time.Second {
		t.Errorf("sound came back %v after the last bad unit, want within 2 s", d)
	}
}
