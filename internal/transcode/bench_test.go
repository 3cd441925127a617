package transcode

import (
	"context"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkTranscodeCPU reports the CPU one stream's transcoding costs per
// 20 ms Opus frame: the ffmpeg child's (decode, resample, encode) and this
// process's (framing, reading, stamping). 10 s of 48 kHz stereo AAC (an
// ffmpeg default) is fed at 10 times its pace per iteration.
func BenchmarkTranscodeCPU(b *testing.B) {
	aus, cfg := aacUnits(b, 48000, 10)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	var frames, childUs, selfUs float64
	for range b.N {
		var out atomic.Int64
		tr, err := New(Params{FFmpeg: ffmpeg(b), Config: cfg, Logger: slog.New(slog.DiscardHandler), Metrics: m,
			Out: func(*rtp.Packet, time.Time, time.Time) { out.Add(1) }})
		if err != nil {
			b.Fatal(err)
		}
		var before, selfBefore syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &selfBefore)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { tr.Run(ctx); close(done) }()
		tick := time.NewTicker(time.Second * samplesPerAU / 48000 / 10)
		for i, a := range aus {
			<-tick.C
			now := time.Now()
			tr.Write(a, uint32(i*samplesPerAU), now, now)
		}
		tick.Stop()
		want := int64(len(aus)) * samplesPerAU / 960 * 9 / 10
		deadline := time.Now().Add(10 * time.Second)
		for out.Load() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		var after, selfAfter syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after)
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &selfAfter)
		frames += float64(out.Load())
		childUs += cpuUs(after) - cpuUs(before)
		selfUs += cpuUs(selfAfter) - cpuUs(selfBefore)
	}
	b.ReportMetric(childUs/frames, "child-µs/frame")
	b.ReportMetric(selfUs/frames, "self-µs/frame")
	b.ReportMetric((childUs+selfUs)/frames, "µs/frame")
}

func cpuUs(r syscall.Rusage) float64 {
	return float64(r.Utime.Sec+r.Stime.Sec)*1e6 + float64(r.Utime.Usec+r.Stime.Usec)
}
