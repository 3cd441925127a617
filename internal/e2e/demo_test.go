package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/app"
)

// TestDemoBuiltInCamera runs `livedrop demo` in-process, as a user would,
// on free ports: the built-in camera publishes the shipped clip over RTSP,
// and a WHEP viewer at the demo's edge decodes it.
func TestDemoBuiltInCamera(t *testing.T) {
	requireTool(t, "ffprobe")
	env := map[string]string{
		"LIVEDROP_ORIGIN_HTTP_ADDR": "127.0.0.1:0",
		"LIVEDROP_EDGE_HTTP_ADDR":   "127.0.0.1:0",
		"LIVEDROP_RTSP_ADDR":        "127.0.0.1:0",
		"LIVEDROP_DATA_DIR":         t.TempDir(),
		// The demo's nodes each carry all media on one UDP port (ICE mux).
		"LIVEDROP_ORIGIN_ICE_UDP_PORT": fmt.Sprint(freeUDPPort(t)),
		"LIVEDROP_EDGE_ICE_UDP_PORT":   fmt.Sprint(freeUDPPort(t)),
	}
	var (
		mu     sync.Mutex
		addrs  app.Addrs
		stdout strings.Builder
	)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Main(ctx, []string{"demo"}, app.Env{
			Stdout: &syncWriter{mu: &mu, w: &stdout}, Stderr: io.Discard,
			Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			Ready: func(a app.Addrs) {
				mu.Lock()
				addrs = a
				mu.Unlock()
				close(ready)
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo exited with %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("demo did not stop within 15 s")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo exited early: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not start")
	}
	mu.Lock()
	banner, edgeAddr := stdout.String(), addrs.EdgeHTTP
	mu.Unlock()
	for _, want := range []string{"/watch/demo", "password", "rtsp://"} {
		if !strings.Contains(banner, want) {
			t.Fatalf("banner lacks %q:\n%s", want, banner)
		}
	}

	resp, err := http.Get("http://" + edgeAddr + "/watch/demo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("viewer page: %d", resp.StatusCode)
	}

	var v *viewer
	waitFor(t, 20*time.Second, "the built-in camera's stream at the edge", func() bool {
		v, err = dialViewer(t, "http://"+edgeAddr+"/whep/demo")
		return err == nil
	})
	waitFor(t, 15*time.Second, "two seconds of video and audio", func() bool {
		_, na := v.counts()
		return v.frames() >= 60 && na > 80
	})
	pkts := v.videoPackets()
	checkContinuous(t, pkts)
	aus := accessUnits(t, pkts)
	if n := decodeFrames(t, aus); n < 45 {
		t.Fatalf("decoded %d frames of the demo clip", n)
	}
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
