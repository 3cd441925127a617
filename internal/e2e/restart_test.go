package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/origin"
)

// TestOriginRestart: the origin goes away and comes back on the same
// address; the edge redials on its own and the viewer's session, never
// renegotiated, plays the new origin's stream.
func TestOriginRestart(t *testing.T) {
	httpAddr, rtspAddr := listen(t), listen(t)
	httpA, rtspA := httpAddr.Addr().String(), rtspAddr.Addr().String()
	startAt := func(h, r net.Listener) (*origin.Origin, context.CancelFunc, chan error) {
		cfg := origin.DefaultConfig()
		cfg.RTSPUDPRTPAddr, cfg.RTSPUDPRTCPAddr = "", ""
		cfg.ICE.UDPPort = 0
		cfg.PublishUser, cfg.PublishPassword = pubUser, pubPass
		cfg.ReadUser, cfg.ReadPassword = readUser, readPass
		cfg.Access.NodeSecrets = []string{nodeSecret}
		cfg.DataDir = t.TempDir()
		cfg.ShutdownGrace = time.Second
		o, err := origin.New(origin.Params{Config: cfg, Logger: testLogger(t), Registry: prometheus.NewRegistry(),
			HTTPListener: h, RTSPListener: r})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- o.Run(ctx) }()
		return o, cancel, done
	}
	o1, stop1, done1 := startAt(httpAddr, rtspAddr)
	on1 := &originNode{Origin: o1}
	e := startEdge(t, "http://"+httpA, func(c *edge.Config) { c.ICE.DisconnectedTimeout, c.ICE.FailedTimeout = time.Second, 2*time.Second })
	pub := startFFmpeg(t, encodeArgs(30), publishURL(on1, "cam", pubUser, pubPass))
	waitOnline(t, on1, "cam", pub)
	v := mustViewer(t, "http://"+e.HTTPAddr()+"/whep/cam")
	waitFor(t, 15*time.Second, "video before the restart", func() bool { return v.frames() > 20 })

	pub.stop()
	stop1()
	if err := <-done1; err != nil {
		t.Fatalf("origin stop: %v", err)
	}
	// The same addresses, a new process state.
	h2, err := net.Listen("tcp", httpA)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := net.Listen("tcp", rtspA)
	if err != nil {
		t.Fatal(err)
	}
	o2, stop2, done2 := startAt(h2, r2)
	defer func() { stop2(); <-done2 }()
	on2 := &originNode{Origin: o2}
	pub2 := startFFmpeg(t, encodeArgs(30), publishURL(on2, "cam", pubUser, pubPass))
	waitOnline(t, on2, "cam", pub2)

	before := v.frames()
	waitFor(t, 30*time.Second, "video from the restarted origin on the same viewer session", func() bool {
		return v.frames() > before+60
	})
	select {
	case <-v.c.Done():
		t.Fatalf("viewer session ended: %v", v.c.Err())
	default:
	}
	pkts := v.videoPackets()
	// Sequence numbers run on; the timestamps jump by the outage (they
	// follow the wall clock across it), which here spans the origin's
	// restart, a new ffmpeg and the edge's redial backoff: a few seconds.
	checkContinuousWithin(t, pkts, 5*90000)
	if n := decodeFrames(t, accessUnits(t, pkts)); n < 80 {
		t.Fatalf("decoded %d frames across the origin restart", n)
	}
	if got := counterValue(t, e.reg, "livedrop_upstream_dials_total", map[string]string{"stream": "cam", "result": "ok"}); got < 2 {
		t.Fatalf("edge dialed its upstream %v times, want a redial", got)
	}
}
