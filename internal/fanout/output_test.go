package fanout

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/stream"
)

// sink records what it is written, as a viewer session would send it.
type sink struct {
	mu    sync.Mutex
	got   []Packet
	wrote chan struct{} // a run was written
	ended chan struct{}
	once  sync.Once
}

func newSink() *sink {
	return &sink{wrote: make(chan struct{}, 1), ended: make(chan struct{})}
}

func (s *sink) WriteRun(run []Packet) {
	s.mu.Lock()
	for i := range run {
		run[i].Sent = true
		s.got = append(s.got, run[i])
	}
	s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
}

func (s *sink) SendReports(time.Time) {}

func (s *sink) StreamEnded() { s.once.Do(func() { close(s.ended) }) }

// waitFor waits until the sink holds n packets, at most 5 s.
func (s *sink) waitFor(t *testing.T, n int) []Packet {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		got := append([]Packet(nil), s.got...)
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-s.wrote:
		case <-deadline:
			t.Fatalf("the sink got %d packets, want %d", len(got), n)
		}
	}
}

// TestOutputStartsFromTheGOP: a sink that starts mid-GOP is sent the
// kept GOP first, its frames' timestamps pressed together to end at the
// live edge, then the live packets not already in it; audio only to a
// sink that takes it; and it is told when the stream ends. No WebRTC is
// involved: the engine feeds any Sink.
func TestOutputStartsFromTheGOP(t *testing.T) {
	m, err := mediametrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	st := stream.New("gop", time.Second)
	st.SetTracks(stream.Tracks{Video: &stream.Codec{MimeType: media.MimeH264, ClockRate: media.VideoClockRate, SDPFmtpLine: media.H264Fmtp},
		Audio: &stream.Codec{MimeType: media.MimeOpus, ClockRate: media.OpusClockRate, Channels: 2}})
	seq := uint16(100)
	video := func(ts uint32, key, marker bool) {
		seq++
		st.WritePacket(&stream.Packet{Kind: stream.Video, Keyframe: key, Payload: []byte{1},
			Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: marker}})
	}
	video(3000, true, false) // the keyframe, in two packets
	video(3000, false, true)
	video(6000, false, true)
	// Written before the outputs start, so the GOP holds this frame
	// whenever the writer begins the replay (written after the audio, it
	// was in the replay or not depending on when the writer ran: CI saw
	// [5999 5999 6000 9000]).
	video(9000, false, true)

	e := New(Params{Metrics: m, QueueSize: 64})
	defer e.Close()
	videoOnly, withAudio := newSink(), newSink()
	o1, err := e.Attach(st, videoOnly, OutputParams{Start: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer o1.Close()
	o2, err := e.Attach(st, withAudio, OutputParams{Audio: true, Start: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	o1.Start(false)
	o2.Start(true) // a writer of its own
	// The first live packet starts the replay of the GOP.
	st.WritePacket(&stream.Packet{Kind: stream.Audio, Payload: []byte{2}, Arrival: time.Now(),
		Header: rtp.Header{Version: 2, SequenceNumber: 7, Timestamp: 960}})

	want := []uint32{8998, 8998, 8999, 9000} // four packets of three frames
	for name, s := range map[string]*sink{"video only": videoOnly, "with audio": withAudio} {
		got := s.waitFor(t, len(want))
		var ts []uint32
		audio := 0
		for _, p := range got {
			if p.Audio {
				audio++
				continue
			}
			ts = append(ts, p.Timestamp)
		}
		if len(ts) != len(want) {
			t.Fatalf("%s: video timestamps %v, want %v", name, ts, want)
		}
		for i := range want {
			if ts[i] != want[i] {
				t.Fatalf("%s: video timestamps %v, want %v", name, ts, want)
			}
		}
		if name == "video only" && audio != 0 {
			t.Fatalf("%s: %d audio packets", name, audio)
		}
	}
	// A retransmission of a replayed packet finds the timestamp it left with.
	if ts, ok := o1.ReplayTimestamp(101); !ok || ts != 8998 {
		t.Fatalf("replayed packet 101 left with %d (%v), want 8998", ts, ok)
	}
	// The audio may leave after the video (AudioHold 0 sends it at once):
	// wait for it.
	withAudio.waitFor(t, len(want)+1)

	st.Close()
	for name, s := range map[string]*sink{"video only": videoOnly, "with audio": withAudio} {
		select {
		case <-s.ended:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not told the stream ended", name)
		}
	}
}

// TestAttachAfterClose: a closed engine takes no sink, and a stream that
// has ended none either.
func TestAttachAfterClose(t *testing.T) {
	m, err := mediametrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ended := stream.New("ended", time.Second)
	ended.Close()
	e := New(Params{Metrics: m, QueueSize: 8})
	if _, err := e.Attach(ended, newSink(), OutputParams{}); !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("attach to an ended stream: %v, want stream.ErrClosed", err)
	}
	e.Close()
	if _, err := e.Attach(stream.New("s", time.Second), newSink(), OutputParams{}); err != ErrClosed {
		t.Fatalf("attach after close: %v, want ErrClosed", err)
	}
}
