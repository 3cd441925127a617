package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/livedrop/livedrop/edge"
)

// BenchmarkTimeToFirstKeyframe measures, for viewers joining one after
// another at an edge, the time from the WHEP POST to the first video packet
// (always a keyframe start): signalling, ICE, DTLS, then the wait for the
// source's next IDR. Viewers join at random points of the GOP. Reported as
// p50 and p99 in milliseconds per GOP.
//
//	go test -run '^$' -bench TimeToFirstKeyframe -benchtime 40x ./internal/e2e/
func BenchmarkTimeToFirstKeyframe(b *testing.B) {
	for _, gop := range []int{30, 60} { // 1 s and 2 s at 30 fps
		b.Run(fmt.Sprintf("gop=%dms", gop*1000/30), func(b *testing.B) {
			o := startOrigin(b, nil)
			e := startEdge(b, "http://"+o.HTTPAddr(), func(c *edge.Config) { c.IdleTimeout = time.Minute })
			pub := startFFmpeg(b, encodeArgs(gop), publishURL(o, "ttfk", pubUser, pubPass))
			waitOnline(b, o, "ttfk", pub)
			url := "http://" + e.HTTPAddr() + "/whep/ttfk"
			warm := mustViewer(b, url) // keeps the upstream open, as on a live edge
			waitFor(b, 15*time.Second, "the warm viewer", func() bool { n, _ := warm.counts(); return n > 0 })

			var samples []time.Duration
			b.ResetTimer()
			gopDur := time.Duration(gop) * time.Second / 30
			for i := 0; i < b.N; i++ {
				// Join at a uniformly random point of the GOP, as real
				// viewers do (joining right after the previous viewer's
				// keyframe would always wait a whole GOP).
				b.StopTimer()
				time.Sleep(rand.N(gopDur))
				b.StartTimer()
				start := time.Now()
				v := mustViewer(b, url)
				waitFor(b, 10*time.Second, "the first keyframe", func() bool { n, _ := v.counts(); return n > 0 })
				v.mu.Lock()
				samples = append(samples, v.first.Sub(start))
				v.mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = v.c.Close(ctx)
				cancel()
			}
			b.StopTimer()
			slices.Sort(samples)
			q := func(p float64) float64 {
				return float64(samples[int(p*float64(len(samples)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
		})
	}
}
