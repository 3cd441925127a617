// Package transcode turns a stream's AAC audio into Opus, which browsers
// decode, with a supervised ffmpeg child per stream: AAC access units go
// in on its stdin (ADTS), Opus comes back as RTP on a local UDP socket,
// stamped on the source's clock so it stays in sync with the video.
//
// ffmpeg runs as a separate process: no GPL or LGPL code is linked into
// livedrop, a crash or a bad frame costs only the audio (video is never
// held up by it), and the child is restarted with backoff.
package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
)

// OpusClockRate is the clock of the packets Out receives.
const OpusClockRate = 48000

// samplesPerAU is an AAC-LC access unit's length in samples.
const samplesPerAU = 1024

// Params build a Transcoder.
type Params struct {
	// FFmpeg is the ffmpeg binary (a path or a name on PATH).
	FFmpeg string
	// Config is the source's AAC configuration (sample rate, channels).
	Config *mpeg4audio.AudioSpecificConfig
	// Out receives each Opus packet, its timestamp on the source's audio
	// clock converted to 48 kHz, and the arrival and media time (Write's
	// at) of the AAC it came from; called from one goroutine.
	Out     func(pkt *rtp.Packet, arrival, at time.Time)
	Logger  *slog.Logger
	Metrics *Metrics
	// Bitrate of the Opus output in bits per second (default 64000).
	Bitrate int
}

// Transcoder is one stream's AAC-to-Opus child. Write from the stream's
// packet path; Run supervises the child until its context ends.
type Transcoder struct {
	p     Params
	in    chan au
	clock clock
	// started, when set (tests), is told each child's process id.
	started func(pid int)
}

type au struct {
	data        []byte
	ts          uint32 // source clock
	arrival, at time.Time
}

// New checks the parameters; nothing runs until Run.
func New(p Params) (*Transcoder, error) {
	if p.Config == nil || p.Config.SampleRate <= 0 || p.Config.ChannelCount <= 0 {
		return nil, errors.New("transcode: an AAC configuration with a sample rate and channels is required")
	}
	if p.Out == nil || p.Logger == nil || p.Metrics == nil {
		return nil, errors.New("transcode: Out, Logger and Metrics are required")
	}
	if p.Bitrate == 0 {
		p.Bitrate = 64000
	}
	t := &Transcoder{p: p, in: make(chan au, 256)}
	t.clock.init(p.Config.SampleRate)
	return t, nil
}

// Write hands the child one AAC access unit with its source timestamp,
// its arrival and its media time (stream.Packet.At: its capture time on
// the node's clock, by the source's sender reports), which the Opus made
// from it gets. It never blocks: when the child is behind (or
// restarting), the unit is dropped and counted, and the video that shares
// the caller goes on.
func (t *Transcoder) Write(data []byte, ts uint32, arrival, at time.Time) {
	select {
	case t.in <- au{data: data, ts: ts, arrival: arrival, at: at}:
		t.p.Metrics.FramesIn.Inc()
	default:
		t.p.Metrics.Dropped.Inc()
	}
}

// Run starts the child and restarts it with backoff (250 ms doubling to
// 2 s) whenever it exits, until ctx ends.
func (t *Transcoder) Run(ctx context.Context) {
	delay := 250 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := t.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		t.p.Metrics.Restarts.Inc()
		if time.Since(started) > 10*time.Second {
			delay = 250 * time.Millisecond // it ran well: a fresh failure
		}
		t.p.Logger.Warn("audio transcoder stopped; restarting (video is not affected)", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// runOnce runs one child: a writer feeding its stdin, a reader of its RTP
// output, until either fails or ctx ends.
func (t *Transcoder) runOnce(ctx context.Context) error {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(cctx, t.p.FFmpeg, "-hide_banner", "-loglevel", "error",
		"-probesize", "32", "-analyzeduration", "0", "-fflags", "+nobuffer", "-flags", "low_delay",
		"-f", "aac", "-i", "pipe:0",
		"-c:a", "libopus", "-b:a", strconv.Itoa(t.p.Bitrate), "-ar", "48000", "-ac", "2",
		"-application", "lowdelay", "-frame_duration", "20", "-flush_packets", "1",
		"-f", "rtp", "-payload_type", "111", "rtp://127.0.0.1:"+strconv.Itoa(port)+"?pkt_size=1200")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stderr := &tail{max: 2048}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", t.p.FFmpeg, err)
	}
	t.clock.restart()
	if t.started != nil {
		t.started(cmd.Process.Pid)
	}
	var wg sync.WaitGroup
	failed := make(chan error, 2)
	wg.Go(func() { failed <- t.feed(cctx, stdin) })
	wg.Go(func() { failed <- t.read(cctx, conn) })
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }() // ends when the child does; cancel kills it
	var runErr error
	select {
	case runErr = <-failed:
	case runErr = <-waited:
		waited <- runErr
	case <-ctx.Done():
	}
	cancel()
	_ = stdin.Close()
	_ = conn.Close()
	wg.Wait()
	if err := <-waited; runErr == nil {
		runErr = err
	}
	if s := stderr.String(); s != "" {
		runErr = fmt.Errorf("%w: %s", runErr, s)
	}
	return runErr
}

// feed writes access units to the child as ADTS frames.
func (t *Transcoder) feed(ctx context.Context, w io.Writer) error {
	cfg := t.p.Config
	for {
		select {
		case <-ctx.Done():
			return nil
		case a := <-t.in:
			buf, err := mpeg4audio.ADTSPackets{{Type: cfg.Type, SampleRate: cfg.SampleRate, ChannelCount: cfg.ChannelCount, AU: a.data}}.Marshal()
			if err != nil {
				t.p.Metrics.Errors.Inc()
				continue // a unit ADTS cannot frame: skip it
			}
			t.clock.wrote(a.ts, a.arrival, a.at)
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("write to the transcoder: %w", err)
			}
		}
	}
}

// read takes the child's Opus packets and stamps them on the source clock.
func (t *Transcoder) read(ctx context.Context, conn net.PacketConn) error {
	buf := make([]byte, 1500)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) == 0 {
			continue // RTCP or padding from the child
		}
		ts, arrival, at, ok := t.clock.source(pkt.Timestamp)
		if !ok {
			continue
		}
		pkt.Payload = append([]byte(nil), pkt.Payload...)
		pkt.Timestamp = ts
		t.p.Metrics.FramesOut.Inc()
		t.p.Metrics.AddedLatency.Observe(time.Since(arrival).Seconds())
		t.p.Out(&pkt, arrival, at)
	}
}

// tail keeps the end of the child's stderr for the error it died with.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
