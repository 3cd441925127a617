package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/whep"
)

// How the camera's sound and picture are measured (syncSource, measureSync):
//
// The camera (ffmpeg, its default encoder and settings for the audio) sends
// a black picture that turns white for 200 ms at every whole second, and a
// 440 Hz sine that sounds for 600 ms from every whole second: in the
// source, a flash and a tone onset share a timestamp exactly (lavfi makes
// both from the same clock). The viewer at the edge records every RTP
// packet and every RTCP sender report of its two tracks. The test decodes
// what the viewer got, as a player would: the Opus with ffmpeg (via an Ogg
// file, pion's oggwriter), G.711 with its table, the H.264 with ffmpeg.
// It finds each tone onset's RTP timestamp (to the sample) and each
// flash's first frame's RTP timestamp, and maps both to wall-clock time
// with the sender reports the viewer received: the very mapping a browser
// plays audio and video in sync by (RFC 3550 6.4.1). The skew is the
// difference of those two times for one flash and its tone, measured
// against every pair of reports the viewer received after it; the source
// says 0. The codecs' own delays (AAC priming, Opus look-ahead) are
// accounted for by the transcoder; what is left is a few milliseconds.
//
// The camera sends no RTCP (-rtpflags skip_rtcp): ffmpeg 5.1's RTSP sender
// reports were measured 0.3 to 3 s (once 50 ms) apart between its own
// audio and video, whose timestamps are in sync, and the origin believes
// reports that agree within 200 ms (stream.SyncClock); with them the test
// would measure ffmpeg's reports. The origin then places each track by its
// RTP clock and earliest arrivals; the origin-to-edge hop and the edge's
// viewers run on the nodes' own sender reports, which this measures.

// syncSource is ffmpeg's input for the flash-and-tone camera, audio at
// rate Hz in frames of n samples. (ffmpeg -re sends a frame of generated
// audio when its first sample is due, where a live camera sends it once
// its last sample is captured, which is what the origin expects: audio
// frames longer than a camera's 20 ms would look early by their length.)
func syncSource(rate, n int) []string {
	return []string{
		"-re", "-f", "lavfi", "-i", "color=c=black:s=320x180:r=30,drawbox=c=white:t=fill:enable='lt(mod(t,1),0.2)'",
		"-f", "lavfi", "-i", fmt.Sprintf("aevalsrc=exprs='0.5*sin(2*PI*440*t)*lt(mod(t,1),0.6)':s=%d:n=%d", rate, n),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-g", "30", "-bf", "0", "-b:v", "300k",
	}
}

// srLog keeps the RTCP sender reports a peer connection receives.
type srLog struct {
	mu  sync.Mutex
	srs map[uint32][]rtcp.SenderReport
}

func (l *srLog) reports(ssrc uint32) []rtcp.SenderReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.srs[ssrc])
}

// read drains a receiver's RTCP (pion hands it over only when read) and
// keeps the sender reports.
func (l *srLog) read(r *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		n, _, err := r.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		l.mu.Lock()
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				if l.srs == nil {
					l.srs = map[uint32][]rtcp.SenderReport{}
				}
				l.srs[sr.SSRC] = append(l.srs[sr.SSRC], *sr)
			}
		}
		l.mu.Unlock()
	}
}

// syncViewer is a WHEP viewer that keeps its packets and sender reports.
type syncViewer struct {
	c   *whep.Client
	srs *srLog

	mu           sync.Mutex
	video, audio []*rtp.Packet
}

func dialSyncViewer(t *testing.T, url string) *syncViewer {
	t.Helper()
	v := &syncViewer{srs: &srLog{}}
	api, closeAPI, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeAPI() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := whep.Dial(ctx, whep.ClientParams{API: api, HTTP: &http.Client{Timeout: 10 * time.Second}, URL: url,
		OnPacket: func(k stream.Kind, p *rtp.Packet) {
			v.mu.Lock()
			defer v.mu.Unlock()
			if k == stream.Video {
				v.video = append(v.video, p)
			} else {
				v.audio = append(v.audio, p)
			}
		}})
	if err != nil {
		t.Fatalf("viewer: %v", err)
	}
	v.c = c
	for _, r := range c.PeerConnection().GetReceivers() {
		go v.srs.read(r) // ends when the connection closes
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return v
}

func (v *syncViewer) packets() (video, audio []*rtp.Packet) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.video), slices.Clone(v.audio)
}

// syncResult is what measureSync found.
type syncResult struct {
	freq   float64         // dominant frequency of the sound, Hz
	skews  []time.Duration // audio minus video, one per report pair
	onsets int             // flash-and-tone pairs found
}

// measureSync records v for a while after its first seconds (the kept GOP
// the edge replays has rewritten timestamps) and measures the sound's
// frequency and the audio/video skew, as the comment at the top says.
func measureSync(t *testing.T, v *syncViewer, audioMime string) syncResult {
	t.Helper()
	waitFor(t, 20*time.Second, "the viewer to receive 9 s of video", func() bool {
		video, _ := v.packets()
		if len(video) == 0 {
			return false
		}
		return int32(video[len(video)-1].Timestamp-video[0].Timestamp) > 9*90000
	})
	video, audio := v.packets()
	if len(audio) == 0 {
		t.Fatal("the viewer got no audio")
	}
	vTS, frames := decodeGray(t, video)
	pcm, aTS, rate := decodeAudio(t, audio, audioMime)

	// Skip the first 2 s of video: the replayed GOP.
	var flashes []uint32
	for i := 1; i < len(frames); i++ {
		if int32(vTS[i]-vTS[0]) < 2*90000 {
			continue
		}
		if frames[i] > 128 && frames[i-1] < 64 {
			flashes = append(flashes, vTS[i])
		}
	}
	tones := toneOnsets(pcm, rate)
	if len(flashes) < 3 || len(tones) < 3 {
		t.Fatalf("found %d flashes and %d tone onsets in what the viewer got, want 3 of each", len(flashes), len(tones))
	}
	vSSRC, aSSRC := video[len(video)-1].SSRC, audio[len(audio)-1].SSRC
	vSR, aSR := v.srs.reports(vSSRC), v.srs.reports(aSSRC)
	if len(vSR) < 3 || len(aSR) < 3 {
		t.Fatalf("the viewer received %d video and %d audio sender reports, want at least 3 of each", len(vSR), len(aSR))
	}
	// Each flash with the tone onset nearest to it on the wall clock of
	// the latest reports; then that pair's skew under every report pair.
	vLast, aLast := vSR[len(vSR)-1], aSR[len(aSR)-1]
	var res syncResult
	type pair struct{ v, a uint32 }
	var pairs []pair
	for _, f := range flashes {
		vt := srTime(vLast, f, 90000)
		best, bestD := -1, time.Duration(math.MaxInt64)
		for i, on := range tones {
			at := srTime(aLast, aTS(on), uint32(rate))
			if d := absDur(at.Sub(vt)); d < bestD {
				best, bestD = i, d
			}
		}
		if best >= 0 && bestD < 300*time.Millisecond {
			pairs = append(pairs, pair{f, aTS(tones[best])})
		}
	}
	if len(pairs) < 3 {
		t.Fatalf("only %d flashes have a tone onset within 300 ms (flashes %d, onsets %d)", len(pairs), len(flashes), len(tones))
	}
	res.onsets = len(pairs)
	n := min(len(vSR), len(aSR))
	for i := 1; i <= n && i <= 4; i++ {
		vs, as := vSR[len(vSR)-i], aSR[len(aSR)-i]
		for _, p := range pairs {
			res.skews = append(res.skews, srTime(as, p.a, uint32(rate)).Sub(srTime(vs, p.v, 90000)))
		}
	}
	// The tone's frequency, over 0.5 s of sound from the second onset on.
	on := tones[1] + rate/20
	res.freq = dominantFrequency(pcm[on:min(on+rate/2, len(pcm))], rate, 300, 600)
	return res
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// srTime maps an RTP timestamp to wall-clock time by a sender report.
func srTime(sr rtcp.SenderReport, ts, rate uint32) time.Time {
	secs := int64(sr.NTPTime>>32) - 2208988800
	frac := int64(sr.NTPTime & 0xffffffff)
	at := time.Unix(secs, frac*1e9>>32)
	return at.Add(time.Duration(int32(ts-sr.RTPTime)) * time.Second / time.Duration(rate))
}

// decodeGray decodes the viewer's H.264 with ffmpeg and returns each
// frame's RTP timestamp and mean brightness (0-255).
func decodeGray(t *testing.T, pkts []*rtp.Packet) ([]uint32, []float64) {
	t.Helper()
	d := &rtph264.Decoder{PacketizationMode: 1}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var ts []uint32
	for _, p := range pkts {
		au, err := d.Decode(p)
		if err != nil {
			if errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
				continue
			}
			t.Fatalf("depacketize: %v", err)
		}
		for _, nalu := range au {
			buf.Write([]byte{0, 0, 0, 1})
			buf.Write(nalu)
		}
		ts = append(ts, p.Timestamp)
	}
	path := filepath.Join(t.TempDir(), "video.h264")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(requireTool(t, "ffmpeg"), "-v", "error", "-f", "h264", "-i", path,
		"-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg decoding the video: %v", err)
	}
	const size = 320 * 180
	if len(out)/size != len(ts) {
		t.Fatalf("ffmpeg decoded %d frames of %d access units", len(out)/size, len(ts))
	}
	means := make([]float64, len(ts))
	for i := range means {
		var sum int
		for _, b := range out[i*size : (i+1)*size] {
			sum += int(b)
		}
		means[i] = float64(sum) / size
	}
	return ts, means
}

// decodeAudio decodes the viewer's audio as a player would and returns
// the samples (mono), the RTP timestamp of each sample index and the
// sample rate.
func decodeAudio(t *testing.T, pkts []*rtp.Packet, mime string) ([]float64, func(int) uint32, int) {
	t.Helper()
	switch {
	case strings.EqualFold(mime, "audio/PCMU"):
		var pcm []float64
		var starts []int
		for _, p := range pkts {
			starts = append(starts, len(pcm))
			for _, b := range p.Payload {
				pcm = append(pcm, float64(ulaw(b))/32768)
			}
		}
		return pcm, func(i int) uint32 {
			k, _ := slices.BinarySearch(starts, i+1)
			k--
			return pkts[k].Timestamp + uint32(i-starts[k])
		}, 8000
	case strings.EqualFold(mime, "audio/opus"):
	default:
		t.Fatalf("no decoder for %s", mime)
	}
	// A packet lost on loopback is stood in for by the one before it, so
	// that what ffmpeg decodes stays on the packets' timeline (an onset
	// inside the hole moves by at most 20 ms).
	filled := pkts[:1:1]
	for i := 1; i < len(pkts); i++ {
		d := pkts[i].Timestamp - pkts[i-1].Timestamp
		if d == 0 || d%960 != 0 || d > 960*25 {
			t.Fatalf("Opus packet %d is %d ticks after the one before, want a multiple of 960 (20 ms packets)", i, d)
		}
		for k := uint32(1); k < d/960; k++ {
			stand := *pkts[i-1]
			stand.Timestamp += k * 960
			filled = append(filled, &stand)
		}
		filled = append(filled, pkts[i])
	}
	if lost := len(filled) - len(pkts); lost > len(pkts)/50 {
		t.Fatalf("%d of %d Opus packets lost", lost, len(filled))
	}
	pkts = filled
	path := filepath.Join(t.TempDir(), "audio.ogg")
	w, err := oggwriter.New(path, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(requireTool(t, "ffmpeg"), "-v", "error", "-i", path, "-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg decoding the Opus: %v", err)
	}
	pcm := make([]float64, len(out)/2)
	for i := range pcm {
		pcm[i] = float64(int16(binary.LittleEndian.Uint16(out[2*i:]))) / 32768
	}
	// ffmpeg drops the Ogg header's pre-skip from the front (3840 samples,
	// pion's oggwriter writes that); what it decoded is otherwise every
	// packet's 960 samples in order.
	skip := len(pkts)*960 - len(pcm)
	if skip != 3840 {
		t.Fatalf("ffmpeg decoded %d samples of %d packets: %d missing, want the 3840 of the pre-skip", len(pcm), len(pkts), skip)
	}
	return pcm, func(i int) uint32 { return pkts[0].Timestamp + uint32(i+skip) }, 48000
}

// ulaw decodes one G.711 µ-law byte.
func ulaw(b byte) int16 {
	b = ^b
	t := (int(b&0x0f) << 3) + 0x84
	t <<= (b & 0x70) >> 4
	if b&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// toneOnsets returns the sample indexes where the tone starts after at
// least 200 ms without sound.
func toneOnsets(pcm []float64, rate int) []int {
	const loud = 0.2 // the tone's amplitude is 0.5
	var onsets []int
	last := -rate
	for i, x := range pcm {
		if math.Abs(x) <= loud {
			continue
		}
		if i-last >= rate/5 {
			onsets = append(onsets, i)
		}
		last = i
	}
	return onsets
}

// dominantFrequency is the frequency between lo and hi Hz (0.25 Hz steps)
// with the most energy in x.
func dominantFrequency(x []float64, rate int, lo, hi float64) float64 {
	best, bestP := 0.0, -1.0
	for f := lo; f <= hi; f += 0.25 {
		var re, im float64
		w := 2 * math.Pi * f / float64(rate)
		for n, s := range x {
			re += s * math.Cos(w*float64(n))
			im -= s * math.Sin(w*float64(n))
		}
		if p := re*re + im*im; p > bestP {
			best, bestP = f, p
		}
	}
	return best
}

// TestCameraAudioIsHeardInSync: a camera publishing H.264 and AAC (ffmpeg's
// default encoder; MPEG4-GENERIC, and MP4A-LATM at 44.1 kHz) or G.711
// µ-law over RTSP is heard by a viewer at an edge: decoded, its sound is
// the camera's 440 Hz tone (± 5 Hz), and each flash of the picture and
// its tone are at most 40 ms apart on the viewer's clock.
func TestCameraAudioIsHeardInSync(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rate  int
		n     int // samples per frame of the camera's audio
		audio []string
		mime  string
	}{
		{"AAC", 48000, 1024, []string{"-c:a", "aac", "-rtpflags", "skip_rtcp"}, "audio/opus"},
		{"AAC-LATM", 44100, 1024, []string{"-c:a", "aac", "-rtpflags", "latm+skip_rtcp"}, "audio/opus"},
		{"PCMU", 8000, 160, []string{"-c:a", "pcm_mulaw", "-rtpflags", "skip_rtcp"}, "audio/PCMU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := startOrigin(t, nil)
			e := startEdge(t, "http://"+o.HTTPAddr(), nil)
			pub := startFFmpeg(t, append(syncSource(tc.rate, tc.n), tc.audio...), publishURL(o, "synccam", pubUser, pubPass))
			waitOnline(t, o, "synccam", pub)
			v := dialSyncViewer(t, "http://"+e.HTTPAddr()+"/whep/synccam")
			if tr := v.c.Tracks(); tr.Audio == nil || !strings.EqualFold(tr.Audio.MimeType, tc.mime) {
				t.Fatalf("the viewer's answer has audio %+v, want %s", tr.Audio, tc.mime)
			}
			res := measureSync(t, v, tc.mime)
			t.Logf("%s: tone %.2f Hz; %d flash/tone pairs; skew (audio - video) %v", tc.name, res.freq, res.onsets, res.skews)
			if math.Abs(res.freq-440) > 5 {
				t.Errorf("the viewer hears %.2f Hz, want 440 ± 5", res.freq)
			}
			for _, s := range res.skews {
				if absDur(s) > 40*time.Millisecond {
					t.Errorf("audio/video skew %v, want at most 40 ms (all: %v)", s, res.skews)
					break
				}
			}
		})
	}
}
