package origin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/sdp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/mediametrics"
)

// The origin's RTSP server is the door camera kits knock on, and anyone on
// the network can knock: these targets throw bytes at it.

const fuzzUser, fuzzPass = "seller", "fuzz-pass"

func testLogger() *slog.Logger {
	if os.Getenv("LIVEDROP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startOrigin runs a real origin on loopback ports until the test ends.
func startOrigin(tb testing.TB) *Origin {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.HTTPAddr, cfg.RTSPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.RTSPUDPRTPAddr, cfg.RTSPUDPRTCPAddr = "", ""
	cfg.ICE.UDPPort = 0
	cfg.PublishUser, cfg.PublishPassword = fuzzUser, fuzzPass
	cfg.ReadUser, cfg.ReadPassword = "viewer", "fuzz-read-pass"
	// The seeds carry Basic credentials, so the fuzzer gets past them.
	cfg.RTSPAuthMethods = []string{"basic", "digest"}
	cfg.Access.NodeSecrets = []string{"fuzz-node-secret-0123456789"}
	cfg.DataDir = tb.TempDir()
	cfg.ShutdownGrace = time.Second
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	rtspLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	o, err := New(Params{Config: cfg, Logger: testLogger(), Registry: prometheus.NewRegistry(), HTTPListener: httpLn, RTSPListener: rtspLn})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("origin run: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Errorf("origin did not stop within 10s")
		}
	})
	// Ready once it answers.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := rtspOptions(o.RTSPAddr()); err == nil {
			return o
		} else if time.Now().After(deadline) {
			tb.Fatalf("origin RTSP never answered OPTIONS: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rtspOptions sends a valid OPTIONS on a fresh connection and checks the
// answer is 200 OK.
func rtspOptions(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "OPTIONS rtsp://"+addr+"/cam1 RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf59.27.100\r\n\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "RTSP/1.0 200") {
		return errors.New("OPTIONS answered " + strings.TrimSpace(line))
	}
	return nil
}

// FuzzRTSPRequest writes fuzzed bytes as requests on a TCP connection to a
// real origin, then ends its side of the stream. Properties: the server
// answers with RTSP responses and closes within 5 s; it never panics (a
// panic kills the fuzzing process); and a valid OPTIONS on a new
// connection is still answered 200 afterwards.
//
// Seeds are what ffmpeg 5.1 sends to publish (OPTIONS, ANNOUNCE with its
// SDP, SETUP, RECORD, interleaved RTP), with Basic credentials so that the
// fuzzer gets past authentication into the SDP checks.
func FuzzRTSPRequest(f *testing.F) {
	o := startOrigin(f)
	addr := o.RTSPAddr()
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.ReplaceAll(data, []byte("{{addr}}"), []byte(addr))
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var answer []byte
		// Pieces separated by {{wait}} are sent one by one, each after the
		// answer to the one before, so that a seed can carry the session id
		// the server gave ({{session}}) into SETUP and RECORD.
		pieces := bytes.Split(data, []byte("{{wait}}"))
		session := []byte("none")
		for i, p := range pieces {
			p = bytes.ReplaceAll(p, []byte("{{session}}"), session)
			_, _ = c.Write(p) // the server may close before it has read all
			if i == len(pieces)-1 {
				break
			}
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			head, err := readHead(r)
			answer = append(answer, head...)
			if err != nil {
				break
			}
			if m := sessionRe.FindSubmatch(head); m != nil {
				session = m[1]
			}
		}
		// Then say it is all: the server answers what it read and closes on
		// the end of the stream.
		_ = c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, err := io.ReadAll(r)
		answer = append(answer, rest...)
		if os.Getenv("LIVEDROP_TEST_LOG") != "" {
			t.Logf("answer: %q", answer)
		}
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("the server neither answered nor closed within 5s of the end of %q (answered %q)", data, answer)
		case err != nil && !isReset(err):
			t.Fatalf("reading the answer: %v", err)
		case len(answer) > 0 && !bytes.HasPrefix(answer, []byte("RTSP/1.0 ")):
			t.Fatalf("answer is not RTSP: %q", answer)
		}
		if err := rtspOptions(addr); err != nil {
			t.Fatalf("after %q the origin no longer answers OPTIONS: %v", data, err)
		}
	})
}

var sessionRe = regexp.MustCompile(`(?m)^Session: ([^;\r\n]+)`)

// readHead reads one response's status line and headers.
func readHead(r *bufio.Reader) ([]byte, error) {
	var head []byte
	for {
		line, err := r.ReadBytes('\n')
		head = append(head, line...)
		if err != nil || len(bytes.TrimSpace(line)) == 0 {
			return head, err
		}
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset by peer") || strings.Contains(err.Error(), "broken pipe")
}

// FuzzPlanSource decodes a fuzzed ANNOUNCE body as gortsplib does and plans
// the source from it. Properties: no panic; a plan is made only with an
// H.264 track, which it names as the video; any audio it keeps is one
// WebRTC carries (Opus, or G.711 at 8 kHz mono).
func FuzzPlanSource(f *testing.F) {
	m, err := mediametrics.New(prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// As gortsplib's ANNOUNCE handling does (server_session.go).
		var ssd sdp.SessionDescription
		if err := ssd.Unmarshal(body); err != nil {
			return
		}
		var desc description.Session
		if err := desc.Unmarshal(&ssd); err != nil {
			return
		}
		pl, err := planTracks(&desc, "cam1", testLogger(), m, true)
		if err != nil {
			if !errors.Is(err, ErrNoVideo) {
				t.Fatalf("planTracks: %v, want ErrNoVideo", err)
			}
			return
		}
		if pl.video == nil || pl.h264 == nil || pl.tracks.Video == nil {
			t.Fatalf("plan without video: %+v", pl)
		}
		if (pl.audio == nil) != (pl.tracks.Audio == nil) {
			t.Fatalf("audio media %v but track %v", pl.audio, pl.tracks.Audio)
		}
		if a := pl.tracks.Audio; a != nil {
			switch {
			case a.MimeType == "audio/opus" && a.ClockRate == 48000:
			case (a.MimeType == "audio/PCMA" || a.MimeType == "audio/PCMU") && a.ClockRate == 8000 && a.Channels == 1:
			default:
				t.Fatalf("kept audio WebRTC cannot carry: %+v", a)
			}
		}
	})
}
