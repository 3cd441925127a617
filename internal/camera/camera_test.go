package camera

import (
	"bytes"
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// newTestCamera makes a camera for r whose clip loops after one second, so
// that tests cross loop boundaries quickly, in real time.
func newTestCamera(t *testing.T, p Params) *Camera {
	t.Helper()
	cam, err := New(p)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	cam.clip, err = cam.clip.cut(time.Second)
	if err != nil {
		t.Fatalf("cut clip: %v", err)
	}
	return cam
}

func TestPublish(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	r := startRecorder(t)
	cam := newTestCamera(t, Params{URL: r.url(), User: testUser, Password: testPassword, Logger: testLogger(t)})
	period := cam.clip.period
	stop := runCamera(t, cam)

	// Two and a half loops of the 1 s clip: two loop boundaries.
	var last int
	r.wait(t, 10*time.Second, "2.5 s of video", func() bool {
		n := 0
		var first, cur uint32
		for _, p := range r.packets {
			if p.video {
				if n == 0 {
					first = p.pkt.Timestamp
				}
				cur = p.pkt.Timestamp
				n++
			}
		}
		last = n
		return n > 0 && int64(cur-first) >= 5*period/2
	})
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	r.wait(t, 3*time.Second, "the session to close", func() bool { return r.closed == 1 })
	t.Logf("received %d video packets", last)

	r.mu.Lock()
	announced := r.announced
	r.mu.Unlock()
	if len(announced) != 1 {
		t.Fatalf("got %d ANNOUNCEs, want 1", len(announced))
	}
	packets := r.snapshot()

	t.Run("sdp", func(t *testing.T) {
		desc := announced[0]
		if sdp, err := desc.Marshal(false); err == nil {
			t.Logf("announced SDP:\n%s", sdp)
		}
		if len(desc.Medias) != 2 {
			t.Fatalf("announced %d medias, want 2", len(desc.Medias))
		}
		var h *format.H264
		if desc.FindFormat(&h) == nil {
			t.Fatal("no H264 format announced")
		}
		if h.PayloadTyp != VideoPayloadType || h.PacketizationMode != 1 {
			t.Errorf("H264 payload type %d packetization mode %d, want %d and 1",
				h.PayloadTyp, h.PacketizationMode, VideoPayloadType)
		}
		if !bytes.Equal(h.SPS, cam.clip.sps) || !bytes.Equal(h.PPS, cam.clip.pps) {
			t.Errorf("announced SPS %x PPS %x, want the clip's %x %x", h.SPS, h.PPS, cam.clip.sps, cam.clip.pps)
		}
		if got := h.FMTP()["profile-level-id"]; !strings.EqualFold(got, "42e01f") {
			t.Errorf("profile-level-id %q, want 42e01f", got)
		}
		var o *format.Opus
		if desc.FindFormat(&o) == nil {
			t.Fatal("no Opus format announced")
		}
		if o.PayloadTyp != AudioPayloadType || o.ChannelCount != cam.clip.channels {
			t.Errorf("Opus payload type %d channels %d, want %d and %d",
				o.PayloadTyp, o.ChannelCount, AudioPayloadType, cam.clip.channels)
		}
	})

	video, audio := split(packets)

	t.Run("rtp", func(t *testing.T) {
		if len(video) == 0 || len(audio) == 0 {
			t.Fatalf("got %d video and %d audio packets", len(video), len(audio))
		}
		for _, track := range []struct {
			name string
			pkts []received
			pt   uint8
		}{{"video", video, VideoPayloadType}, {"audio", audio, AudioPayloadType}} {
			for i, p := range track.pkts {
				if p.pkt.PayloadType != track.pt {
					t.Fatalf("%s packet %d: payload type %d, want %d", track.name, i, p.pkt.PayloadType, track.pt)
				}
				if len(p.pkt.Payload) > PayloadMaxSize {
					t.Fatalf("%s packet %d: payload %d bytes, want <= %d", track.name, i, len(p.pkt.Payload), PayloadMaxSize)
				}
				if i == 0 {
					continue
				}
				prev := track.pkts[i-1].pkt
				if p.pkt.SequenceNumber != prev.SequenceNumber+1 {
					t.Fatalf("%s packet %d: sequence number %d after %d", track.name, i, p.pkt.SequenceNumber, prev.SequenceNumber)
				}
				if p.pkt.SSRC != prev.SSRC {
					t.Fatalf("%s packet %d: SSRC changed", track.name, i)
				}
			}
		}
	})

	t.Run("timestamps", func(t *testing.T) {
		// Every step is one frame (3000 ticks) or one Opus packet (960
		// samples), also across the loop boundaries: no jump back, no gap.
		steps := func(name string, pkts []received, want uint32) {
			for i := 1; i < len(pkts); i++ {
				d := pkts[i].pkt.Timestamp - pkts[i-1].pkt.Timestamp
				if d != 0 && d != want {
					t.Fatalf("%s packet %d: timestamp step %d, want 0 or %d", name, i, int32(d), want)
				}
				if d == 0 && name == "audio" {
					t.Fatalf("audio packet %d repeats timestamp %d", i, pkts[i].pkt.Timestamp)
				}
			}
			span := int64(pkts[len(pkts)-1].pkt.Timestamp - pkts[0].pkt.Timestamp)
			if name == "video" && span < 2*period {
				t.Fatalf("video spans %d ticks, fewer than two loops (%d)", span, 2*period)
			}
		}
		steps("video", video, uint32(cam.clip.frameTicks))
		steps("audio", audio, 960)
	})

	t.Run("h264", func(t *testing.T) {
		dec, err := (&format.H264{PayloadTyp: VideoPayloadType, PacketizationMode: 1}).CreateDecoder()
		if err != nil {
			t.Fatal(err)
		}
		var aus, idrs int
		for _, p := range video {
			au, err := dec.Decode(p.pkt)
			if errors.Is(err, rtph264.ErrMorePacketsNeeded) {
				continue
			}
			if err != nil {
				t.Fatalf("depacketize: %v", err)
			}
			aus++
			for i, nalu := range au {
				if h264.NALUType(nalu[0]&0x1f) != h264.NALUTypeIDR {
					continue
				}
				idrs++
				if i < 2 || !bytes.Equal(au[0], cam.clip.sps) || !bytes.Equal(au[1], cam.clip.pps) {
					t.Fatalf("access unit %d: IDR at NALU %d without SPS and PPS first", aus, i)
				}
				break
			}
		}
		// One IDR per loop of the 1 s clip, and the first access unit is one.
		if idrs < 3 {
			t.Fatalf("got %d IDRs in %d access units, want one per loop (at least 3)", idrs, aus)
		}
	})

	t.Run("pacing", func(t *testing.T) {
		// Real time: the arrival time of each access unit, less its RTP
		// time, stays within a tolerance over the whole run.
		const tolerance = 250 * time.Millisecond
		base := video[0]
		var lo, hi time.Duration
		for _, p := range video {
			media := durationFromTicks(int64(p.pkt.Timestamp - base.pkt.Timestamp))
			lag := p.arrived.Sub(base.arrived) - media
			lo, hi = min(lo, lag), max(hi, lag)
		}
		if hi-lo > tolerance {
			t.Fatalf("arrival minus RTP time ranges over %v (%v to %v), want within %v", hi-lo, lo, hi, tolerance)
		}
		t.Logf("arrival minus RTP time within [%v, %v]", lo, hi)
	})

	r.server.Close()
	checkGoroutines(t, goroutines)
}

// split separates video and audio packets, in arrival order.
func split(pkts []received) (video, audio []received) {
	for _, p := range pkts {
		if p.video {
			video = append(video, p)
		} else {
			audio = append(audio, p)
		}
	}
	return video, audio
}

func TestWrongCredentials(t *testing.T) {
	r := startRecorder(t)
	var mu sync.Mutex
	var reported []error
	cam := newTestCamera(t, Params{
		URL: r.url(), User: testUser, Password: "wrong", Logger: testLogger(t),
		OnError: func(err error) {
			mu.Lock()
			defer mu.Unlock()
			reported = append(reported, err)
		},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := cam.Run(ctx)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Run returned %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "401") {
		t.Errorf("error %q does not name the status", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q shows the password", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || !errors.Is(reported[0], ErrUnauthorized) {
		t.Fatalf("OnError got %v, want one ErrUnauthorized", reported)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refused != 1 || len(r.announced) != 0 {
		t.Fatalf("server refused %d and accepted %d ANNOUNCEs, want 1 and 0", r.refused, len(r.announced))
	}
}

func TestRedialAfterConnectionLoss(t *testing.T) {
	r := startRecorder(t)
	errs := make(chan error, 10)
	cam := newTestCamera(t, Params{
		URL: r.url(), User: testUser, Password: testPassword, Logger: testLogger(t),
		OnError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	})
	stop := runCamera(t, cam)

	r.wait(t, 5*time.Second, "packets", func() bool { return len(r.packets) > 0 })
	r.closeSessions()
	r.wait(t, 5*time.Second, "packets from a second session", func() bool {
		return len(r.packets) > 0 && r.packets[len(r.packets)-1].session == 1
	})
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	select {
	case err := <-errs:
		t.Logf("reported: %v", err)
	default:
		t.Fatal("OnError was not called for the lost connection")
	}
}

func TestCancel(t *testing.T) {
	t.Run("while the server does not answer", func(t *testing.T) {
		// A server that accepts connections and never answers: the RTSP
		// handshake hangs until Run's context is cancelled.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		cam := newTestCamera(t, Params{URL: "rtsp://" + l.Addr().String() + "/demo", Logger: testLogger(t)})
		stop := runCamera(t, cam)
		select {
		case c := <-accepted:
			defer c.Close()
		case <-time.After(5 * time.Second):
			t.Fatal("camera did not connect")
		}
		start := time.Now()
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Run took %v to return after cancel", d)
		}
	})

	t.Run("while redialling", func(t *testing.T) {
		// A port nobody listens on.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		failed := make(chan error, 10)
		cam := newTestCamera(t, Params{URL: "rtsp://" + addr + "/demo", Logger: testLogger(t),
			OnError: func(err error) {
				select {
				case failed <- err:
				default:
				}
			}})
		stop := runCamera(t, cam)
		for range 2 {
			select {
			case err := <-failed:
				t.Logf("reported: %v", err)
			case <-time.After(5 * time.Second):
				t.Fatal("no failed attempt reported")
			}
		}
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
	})
}

func TestNewRejectsBadParams(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"empty", ""},
		{"http", "http://127.0.0.1:8554/demo"},
		{"no stream", "rtsp://127.0.0.1:8554/"},
		{"credentials in url", "rtsp://u:p@127.0.0.1:8554/demo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(Params{URL: tc.url}); err == nil {
				t.Fatalf("New(%q) succeeded", tc.url)
			}
		})
	}
}

// checkGoroutines waits until no more goroutines run than before the test.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // polling a count nobody signals
	}
}
