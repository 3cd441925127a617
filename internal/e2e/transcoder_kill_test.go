package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/whep"
)

// timedViewer records when each packet of a WHEP session arrived.
type timedViewer struct {
	c  *whep.Client
	mu sync.Mutex
	v  []timedPkt
	a  []timedPkt
}

type timedPkt struct {
	at  time.Time
	seq uint16
	ts  uint32
}

func dialTimedViewer(t *testing.T, url string) *timedViewer {
	t.Helper()
	api, closeAPI, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeAPI() })
	tv := &timedViewer{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := whep.Dial(ctx, whep.ClientParams{API: api, HTTP: &http.Client{Timeout: 10 * time.Second}, URL: url,
		OnPacket: func(k stream.Kind, p *rtp.Packet) {
			tp := timedPkt{at: time.Now(), seq: p.SequenceNumber, ts: p.Timestamp}
			tv.mu.Lock()
			defer tv.mu.Unlock()
			if k == stream.Video {
				tv.v = append(tv.v, tp)
			} else {
				tv.a = append(tv.a, tp)
			}
		}})
	if err != nil {
		t.Fatalf("viewer: %v", err)
	}
	tv.c = c
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return tv
}

func (tv *timedViewer) snapshot() (video, audio []timedPkt) {
	tv.mu.Lock()
	defer tv.mu.Unlock()
	return append([]timedPkt(nil), tv.v...), append([]timedPkt(nil), tv.a...)
}

// transcoderPIDs returns the ffmpeg children of this process that
// transcode AAC to Opus (the origin runs in the test's process).
func transcoderPIDs(t *testing.T) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	var pids []int
	for _, d := range dirs {
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(me) {
			continue
		}
		cmd, _ := os.ReadFile(d + "/cmdline")
		if strings.Contains(string(cmd), "pipe:0") && strings.Contains(string(cmd), "libopus") {
			pid, _ := strconv.Atoi(filepath.Base(d))
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestTranscoderKillKeepsVideoAndAudioReturns: the AAC camera's
// transcoder is killed (SIGKILL) while a viewer at an edge watches: the
// video goes on without a gap the viewer can measure (no sequence hole,
// no frame later than 250 ms after the one before), the sound comes back
// within 2 s, and the restart is counted.
func TestTranscoderKillKeepsVideoAndAudioReturns(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	args := append([]string(nil), encodeArgs(30)...)
	for i, a := range args {
		if a == "libopus" {
			args[i] = "aac"
		}
	}
	pub := startFFmpeg(t, args, publishURL(o, "killcam", pubUser, pubPass))
	waitOnline(t, o, "killcam", pub)
	v := dialTimedViewer(t, "http://"+e.HTTPAddr()+"/whep/killcam")
	waitFor(t, 20*time.Second, "2 s of sound and picture at the viewer", func() bool {
		video, audio := v.snapshot()
		return len(video) > 60 && len(audio) > 100
	})
	var pids []int
	waitFor(t, 5*time.Second, "the transcoder child", func() bool { pids = transcoderPIDs(t); return len(pids) == 1 })
	killed := time.Now()
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatalf("kill the transcoder: %v", err)
	}
	var back time.Duration
	waitFor(t, 5*time.Second, "audio after the kill", func() bool {
		_, audio := v.snapshot()
		// ffmpeg's RTSP muxer packs AAC into ~0.3 s bursts (its default
		// max_delay), so a pause in arrivals says nothing. What the old
		// child sent reached the viewer within a few milliseconds of the
		// kill: a packet arriving later than 150 ms after it is the new
		// child's, and the sound is back when half a second of it came.
		for i, a := range audio {
			if a.at.After(killed.Add(150 * time.Millisecond)) {
				back = a.at.Sub(killed)
				return len(audio)-i >= 25
			}
		}
		return false
	})
	waitFor(t, 5*time.Second, "2 s of video after the kill", func() bool {
		video, _ := v.snapshot()
		return video[len(video)-1].at.Sub(killed) > 2*time.Second
	})
	video, _ := v.snapshot()
	var worst time.Duration
	for i := 1; i < len(video); i++ {
		if video[i].seq != video[i-1].seq+1 {
			t.Fatalf("video sequence hole around the kill: %d then %d", video[i-1].seq, video[i].seq)
		}
		if video[i].at.Before(killed.Add(-time.Second)) || video[i].ts == video[i-1].ts {
			continue // before the kill, or the same frame
		}
		worst = max(worst, video[i].at.Sub(video[i-1].at))
	}
	t.Logf("sound back %v after the kill; longest wait between video frames around it %v", back, worst)
	if back > 2*time.Second {
		t.Errorf("the sound came back %v after the transcoder was killed, want within 2 s", back)
	}
	if worst > 250*time.Millisecond {
		t.Errorf("a video frame came %v after the one before it around the kill, want at most 250 ms (30 fps)", worst)
	}
	if got := counterValue(t, o.reg, "livedrop_transcode_restarts_total", nil); got < 1 {
		t.Errorf("restarts counted %v, want at least 1", got)
	}
}
