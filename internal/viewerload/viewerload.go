// Package viewerload opens many receive-only WHEP viewers against any WHEP
// endpoint and reports what they got: sessions up, time to first keyframe,
// packets, bytes, sequence gaps, and the CPU a target process spent.
package viewerload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/livedrop/livedrop/internal/avc"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/whep"
)

// Params configure a run.
type Params struct {
	// URL is the WHEP endpoint, e.g. http://edge:8080/whep/demo.
	URL string
	// Viewers is how many sessions to open.
	Viewers int
	// Ramp spreads the session starts over this time.
	Ramp time.Duration
	// Duration is how long all sessions are held after the ramp; the
	// steady-state figures (CPU, packet rates) cover this window.
	Duration time.Duration
	// PID, when set, is the process whose CPU is measured over the window.
	PID int
	// ICE configures the viewers' transport.
	ICE peer.ICEConfig
	// NoGRO makes every viewer's socket take packets one by one. By default
	// they take coalesced datagrams (UDP GRO) and split them: on loopback
	// the kernel would otherwise split the server's GSO datagrams in the
	// server's own CPU time, which a real network does in the NIC.
	NoGRO bool
}

// Percentiles of a latency, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summary is the JSON result of a run.
type Summary struct {
	URL            string         `json:"url"`
	Viewers        int            `json:"viewers"`
	SessionsUp     int            `json:"sessions_up"`
	SessionsFailed int            `json:"sessions_failed"`
	Errors         map[string]int `json:"errors,omitempty"`
	// FirstKeyframeMs runs from a session's offer to its first keyframe:
	// FirstPacketMs (setup: offer, answer, ICE, DTLS, first media packet)
	// plus KeyframeWaitMs (media flowing, no picture yet). A GOP start
	// makes the keyframe the first packet, so the wait is about 0.
	FirstKeyframeMs     Percentiles `json:"first_keyframe_ms"`
	FirstPacketMs       Percentiles `json:"first_packet_ms"`
	KeyframeWaitMs      Percentiles `json:"keyframe_wait_ms"`
	NoKeyframe          int         `json:"sessions_without_keyframe"`
	VideoPackets        int64       `json:"video_packets"`
	AudioPackets        int64       `json:"audio_packets"`
	Bytes               int64       `json:"bytes"`
	SequenceGaps        int64       `json:"sequence_gaps"`
	LossPercent         float64     `json:"loss_percent"`
	WindowSeconds       float64     `json:"window_seconds"`
	PacketsPerSecond    float64     `json:"packets_per_second"`
	TargetCPUSeconds    float64     `json:"target_cpu_seconds,omitempty"`
	TargetCPUMsPerViewS float64     `json:"target_cpu_ms_per_viewer_second,omitempty"`
	TargetCPUUsPerPkt   float64     `json:"target_cpu_us_per_packet,omitempty"`
	TargetRSSMiB        float64     `json:"target_rss_mib,omitempty"`
}

// viewer is one session's counters, written by its track goroutines.
type viewer struct {
	start     time.Time
	firstKey  atomic.Int64 // nanoseconds after start; 0 until a keyframe
	firstPkt  atomic.Int64 // nanoseconds after start; 0 until a packet
	video     atomic.Int64
	audio     atomic.Int64
	bytes     atomic.Int64
	gaps      atomic.Int64
	expected  atomic.Int64
	mu        sync.Mutex
	lastSeq   [2]uint16
	seenFirst [2]bool
}

func (v *viewer) onPacket(k stream.Kind, p *rtp.Packet) {
	v.bytes.Add(int64(len(p.Payload)))
	if v.firstPkt.Load() == 0 {
		v.firstPkt.CompareAndSwap(0, int64(max(time.Since(v.start), 1)))
	}
	if k == stream.Video {
		v.video.Add(1)
		if v.firstKey.Load() == 0 && avc.IsKeyframeStart(p.Payload) {
			v.firstKey.CompareAndSwap(0, int64(max(time.Since(v.start), 1)))
		}
	} else {
		v.audio.Add(1)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	i := int(k)
	if !v.seenFirst[i] {
		v.seenFirst[i], v.lastSeq[i] = true, p.SequenceNumber
		v.expected.Add(1)
		return
	}
	d := int16(p.SequenceNumber - v.lastSeq[i])
	if d <= 0 {
		return // a retransmission or reordering: already counted
	}
	v.expected.Add(int64(d))
	v.gaps.Add(int64(d - 1))
	v.lastSeq[i] = p.SequenceNumber
}

// Run opens the viewers, holds them, closes them, and summarizes.
func Run(ctx context.Context, p Params) (Summary, error) {
	if p.URL == "" || p.Viewers < 1 {
		return Summary{}, errors.New("viewerload: a URL and at least one viewer are required")
	}
	if p.ICE.DisconnectedTimeout == 0 {
		p.ICE = peer.DefaultICEConfig()
	}
	// Each viewer has its own socket; 1 MiB holds a keyframe burst while
	// the generator waits for a core.
	opts := []peer.APIOption{peer.WithSocketBuffer(1 << 20)}
	if !p.NoGRO {
		opts = append(opts, peer.WithGRO())
	}
	api, closeICE, err := peer.NewAPI(p.ICE, opts...)
	if err != nil {
		return Summary{}, err
	}
	defer closeICE()
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	var (
		mu      sync.Mutex
		clients []*whep.Client
		viewers []*viewer
		errs    = map[string]int{}
		wg      sync.WaitGroup
	)
	step := time.Duration(0)
	if p.Viewers > 1 {
		step = p.Ramp / time.Duration(p.Viewers-1)
	}
	begin := time.Now()
	for i := 0; i < p.Viewers; i++ {
		if d := time.Until(begin.Add(time.Duration(i) * step)); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &viewer{start: time.Now()}
			c, err := whep.Dial(ctx, whep.ClientParams{API: api, URL: p.URL, HTTP: hc, OnPacket: v.onPacket, ReuseBuffers: true})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[errorKind(err)]++
				return
			}
			clients = append(clients, c)
			viewers = append(viewers, v)
		}()
	}
	wg.Wait()

	// Steady state: every session is up (or failed); measure a window.
	type snap struct {
		pkts int64
		cpu  time.Duration
	}
	take := func() snap {
		var s snap
		mu.Lock()
		for _, v := range viewers {
			s.pkts += v.video.Load() + v.audio.Load()
		}
		mu.Unlock()
		if p.PID > 0 {
			s.cpu, _ = processCPU(p.PID)
		}
		return s
	}
	s0, t0 := take(), time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(p.Duration):
	}
	s1, window := take(), time.Since(t0)
	var rss float64
	if p.PID > 0 {
		rss, _ = processRSS(p.PID)
	}

	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var cw sync.WaitGroup
	for _, c := range clients {
		cw.Add(1)
		go func() {
			defer cw.Done()
			_ = c.Close(closeCtx)
		}()
	}
	cw.Wait()

	sum := Summary{URL: p.URL, Viewers: p.Viewers, SessionsUp: len(clients), Errors: errs,
		WindowSeconds: window.Seconds()}
	for _, n := range errs {
		sum.SessionsFailed += n
	}
	var firsts, firstPkts, waits []time.Duration
	var expected int64
	for _, v := range viewers {
		k, f := v.firstKey.Load(), v.firstPkt.Load()
		if f > 0 {
			firstPkts = append(firstPkts, time.Duration(f))
		}
		if k > 0 {
			firsts = append(firsts, time.Duration(k))
			waits = append(waits, time.Duration(k-f))
		} else {
			sum.NoKeyframe++
		}
		sum.VideoPackets += v.video.Load()
		sum.AudioPackets += v.audio.Load()
		sum.Bytes += v.bytes.Load()
		sum.SequenceGaps += v.gaps.Load()
		expected += v.expected.Load()
	}
	if expected > 0 {
		sum.LossPercent = 100 * float64(sum.SequenceGaps) / float64(expected)
	}
	sum.FirstKeyframeMs = percentiles(firsts)
	sum.FirstPacketMs = percentiles(firstPkts)
	sum.KeyframeWaitMs = percentiles(waits)
	delivered := s1.pkts - s0.pkts
	if window > 0 {
		sum.PacketsPerSecond = float64(delivered) / window.Seconds()
	}
	if p.PID > 0 && window > 0 && sum.SessionsUp > 0 {
		cpu := (s1.cpu - s0.cpu).Seconds()
		sum.TargetCPUSeconds = cpu
		sum.TargetCPUMsPerViewS = 1000 * cpu / (float64(sum.SessionsUp) * window.Seconds())
		if delivered > 0 {
			sum.TargetCPUUsPerPkt = 1e6 * cpu / float64(delivered)
		}
		sum.TargetRSSMiB = rss
	}
	return sum, ctx.Err()
}

func errorKind(err error) string {
	var se *whep.StatusError
	if errors.As(err, &se) {
		return "http_" + strconv.Itoa(se.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "timeout"
	}
	return "dial"
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000
	}
	return Percentiles{P50: at(0.5), P95: at(0.95), P99: at(0.99), Max: at(1)}
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times on Linux.
const clockTicks = 100

// processCPU reads the user+system CPU time a process has used.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start at ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// processRSS reads a process's resident memory in MiB.
func processRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmRSS")
}
