package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/avc"
	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/whep"
)

// keyframeWatcher is a viewer that notes when each new keyframe arrives.
type keyframeWatcher struct {
	mu   sync.Mutex
	keys []time.Time
	last uint32
}

func watchKeyframes(t *testing.T, url string) *keyframeWatcher {
	t.Helper()
	api, _, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	w := &keyframeWatcher{}
	c, err := whep.Dial(t.Context(), whep.ClientParams{API: api, HTTP: &http.Client{Timeout: 10 * time.Second}, URL: url, NoAudio: true, OnPacket: func(k stream.Kind, p *rtp.Packet) {
		if k != stream.Video || !avc.IsKeyframeStart(p.Payload) {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.keys) == 0 || p.Timestamp != w.last {
			w.keys = append(w.keys, time.Now())
			w.last = p.Timestamp
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return w
}

func (w *keyframeWatcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.keys)
}

// waitFreshKeyframe waits for a keyframe after the ones seen so far (the
// first one a watcher gets may be a replayed GOP) and returns when it came.
func (w *keyframeWatcher) waitFreshKeyframe(t *testing.T) time.Time {
	t.Helper()
	n := w.count()
	waitFor(t, 15*time.Second, "a fresh keyframe from the source", func() bool { return w.count() > max(n, 1) })
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.keys[len(w.keys)-1]
}

// waitUntil returns at the instant at, at once if it has passed: a phase
// relative to a keyframe the watcher saw.
func waitUntil(at time.Time) {
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	<-timer.C
}

// TestJoinMidGOP: with a 4 s GOP, a viewer joining half a second after a
// keyframe decodes a picture long before the source's next keyframe.
func TestJoinMidGOP(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	pub := startFFmpeg(t, encodeArgs(120), publishURL(o, "gop4", pubUser, pubPass))
	waitOnline(t, o, "gop4", pub)
	url := "http://" + e.HTTPAddr() + "/whep/gop4"
	w := watchKeyframes(t, url)

	t.Run("pion", func(t *testing.T) {
		key := w.waitFreshKeyframe(t)
		waitUntil(key.Add(500 * time.Millisecond)) // join mid-GOP, at a known phase
		join := time.Now()
		v := mustViewer(t, url)
		waitFor(t, 3*time.Second, "the first picture", func() bool { return v.frames() >= 1 })
		v.mu.Lock()
		first := v.first
		v.mu.Unlock()
		if d := first.Sub(join); d > 1500*time.Millisecond {
			t.Fatalf("first video packet %v after joining; the source's next keyframe is ~3.5 s away", d)
		}
		if next := key.Add(4 * time.Second); !first.Before(next.Add(-2 * time.Second)) {
			t.Fatalf("first picture at %v, not well before the next keyframe at %v", first, next)
		}
		aus := accessUnits(t, v.videoPackets())
		if n := decodeFrames(t, aus); n < 1 {
			t.Fatal("the replayed GOP does not decode")
		}
		if got := counterValue(t, e.reg, "livedrop_gop_starts_total", map[string]string{"stream": "gop4"}); got < 1 {
			t.Fatal("no GOP start counted")
		}
	})

	t.Run("chromium", func(t *testing.T) {
		b := chrometest.Start(t)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		key := w.waitFreshKeyframe(t)
		waitUntil(key.Add(300 * time.Millisecond))
		page, err := b.Open(ctx, "http://"+e.HTTPAddr()+"/watch/gop4")
		if err != nil {
			t.Fatal(err)
		}
		defer page.Close()
		if err := page.WaitFor(ctx, `(async () => (await window.livedrop.framesDecoded()) > 0)()`, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		decodedAt := time.Now()
		w.mu.Lock()
		newer := w.keys[len(w.keys)-1].After(key)
		w.mu.Unlock()
		if newer {
			t.Fatalf("Chromium decoded only after the source's next keyframe (%v after the last one)", decodedAt.Sub(key))
		}
	})
}

// dropper loses every 25th video packet once, before the NACK generator
// sees it, and notes what comes back.
type dropper struct {
	mu        sync.Mutex
	n         int
	dropped   map[uint16]bool
	recovered int // came back on the original stream
	viaRTX    int // came back on the RTX stream
}

func (d *dropper) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }
func (d *dropper) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return r
}
func (d *dropper) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter { return w }
func (d *dropper) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return w
}
func (d *dropper) UnbindLocalStream(*interceptor.StreamInfo)  {}
func (d *dropper) UnbindRemoteStream(*interceptor.StreamInfo) {}
func (d *dropper) Close() error                               { return nil }
func (d *dropper) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	if info.MimeType == "video/rtx" {
		return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			n, attr, err := r.Read(b, a)
			var h rtp.Header
			if err == nil {
				if hl, herr := h.Unmarshal(b[:n]); herr == nil && n >= hl+2 {
					osn := binary.BigEndian.Uint16(b[hl:])
					d.mu.Lock()
					if d.dropped[osn] {
						delete(d.dropped, osn)
						d.viaRTX++
					}
					d.mu.Unlock()
				}
			}
			return n, attr, err
		})
	}
	if info.MimeType != "video/H264" {
		return r
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := r.Read(b, a)
			if err != nil || n < 4 {
				return n, attr, err
			}
			seq := binary.BigEndian.Uint16(b[2:4])
			d.mu.Lock()
			if d.dropped[seq] {
				delete(d.dropped, seq)
				d.recovered++
				d.mu.Unlock()
				return n, attr, err
			}
			d.n++
			drop := d.n%25 == 0 && d.n > 100 // after the GOP burst
			if drop {
				d.dropped[seq] = true
			}
			d.mu.Unlock()
			if !drop {
				return n, attr, err
			}
		}
	})
}

// TestNACKRepairsLoss: a viewer losing packets on purpose gets them back,
// in band, or on an RTX stream when it offers RTX (as browsers do).
func TestNACKRepairsLoss(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	pub := startFFmpeg(t, encodeArgs(30), publishURL(o, "lossy", pubUser, pubPass))
	waitOnline(t, o, "lossy", pub)

	sentBefore := 0.0
	for _, rtx := range []bool{false, true} {
		t.Run(fmt.Sprintf("rtx=%v", rtx), func(t *testing.T) {
			d := &dropper{dropped: map[uint16]bool{}}
			api, _, err := peer.NewAPI(peer.DefaultICEConfig(), peer.WithReceiveInterceptor(d))
			if err != nil {
				t.Fatal(err)
			}
			c, err := whep.Dial(t.Context(), whep.ClientParams{API: api, HTTP: &http.Client{Timeout: 10 * time.Second}, URL: "http://" + e.HTTPAddr() + "/whep/lossy",
				OfferRTX: rtx, OnPacket: func(stream.Kind, *rtp.Packet) {}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			waitFor(t, 20*time.Second, "ten packets lost on purpose and sent again", func() bool {
				d.mu.Lock()
				defer d.mu.Unlock()
				if rtx {
					return d.viaRTX >= 10
				}
				return d.recovered >= 10
			})
			d.mu.Lock()
			inBand, viaRTX := d.recovered, d.viaRTX
			d.mu.Unlock()
			if rtx && inBand > 0 || !rtx && viaRTX > 0 {
				t.Fatalf("offered RTX %v: %d repaired in band, %d over RTX", rtx, inBand, viaRTX)
			}
			sent := counterValue(t, e.reg, "livedrop_retransmissions_total", map[string]string{"stream": "lossy", "result": "sent"})
			if sent-sentBefore < 10 {
				t.Fatalf("edge counted %v retransmissions", sent-sentBefore)
			}
			sentBefore = sent
		})
	}
	if n := counterValue(t, e.reg, "livedrop_nacked_packets_total", map[string]string{"stream": "lossy"}); n < 20 {
		t.Fatalf("edge counted %v NACKed packets", n)
	}
	// The repairs above went out on the direct path (the edge's UDP port),
	// RTX packets protected by the edge's own SRTP sealer.
	direct := counterValue(t, e.reg, "livedrop_media_session_paths_total", map[string]string{"path": "direct"})
	viaPion := counterValue(t, e.reg, "livedrop_media_session_paths_total", map[string]string{"path": "pion"})
	if direct != 2 || viaPion != 0 {
		t.Fatalf("session paths: %v direct, %v through pion; want the 2 viewers direct", direct, viaPion)
	}
}

// TestStalledViewerDoesNotHurtOthers: one viewer stops reading; the other
// keeps receiving every packet.
func TestStalledViewerDoesNotHurtOthers(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), nil)
	pub := startFFmpeg(t, encodeArgs(30), publishURL(o, "busy", pubUser, pubPass))
	waitOnline(t, o, "busy", pub)
	url := "http://" + e.HTTPAddr() + "/whep/busy"

	api, _, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	stall := make(chan struct{})
	var stalledGot atomic.Int64
	stalled, err := whep.Dial(t.Context(), whep.ClientParams{API: api, HTTP: &http.Client{Timeout: 10 * time.Second}, URL: url, OnPacket: func(stream.Kind, *rtp.Packet) {
		if stalledGot.Add(1) > 20 {
			<-stall // stops reading: pion's buffers, then its socket, fill up
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(stall); _ = stalled.Close(context.Background()) }()
	waitFor(t, 10*time.Second, "the stalled viewer to stall", func() bool { return stalledGot.Load() > 20 })

	healthy := mustViewer(t, url)
	waitFor(t, 20*time.Second, "300 video packets at the healthy viewer", func() bool { n, _ := healthy.counts(); return n >= 300 })
	pkts := healthy.videoPackets()
	checkContinuous(t, pkts)
	if n := decodeFrames(t, accessUnits(t, pkts)); n < 30 {
		t.Fatalf("healthy viewer decoded %d frames", n)
	}
}

// TestICEOverTCPAndLinkHeaders: a player that can only use TCP plays
// through the edge's ICE TCP port; the answer hands out the configured
// STUN/TURN servers.
func TestICEOverTCPAndLinkHeaders(t *testing.T) {
	o := startOrigin(t, nil)
	e := startEdge(t, "http://"+o.HTTPAddr(), func(c *edge.Config) {
		c.ICE.TCPPort = freeTCPPort(t) // probed again if startEdge tries again
		c.ICE.Servers = []string{"stun:stun.example.net:3478", "turn:turn.example.net:3478?transport=udp"}
		c.ICE.TURNUsername, c.ICE.TURNCredential = "viewer", "secret"
	})
	pub := startFFmpeg(t, encodeArgs(30), publishURL(o, "tcp", pubUser, pubPass))
	waitOnline(t, o, "tcp", pub)

	api, _, err := peer.NewAPI(peer.DefaultICEConfig(), peer.WithTCPOnly())
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	c, err := whep.Dial(t.Context(), whep.ClientParams{API: api, HTTP: &http.Client{Timeout: 10 * time.Second}, URL: "http://" + e.HTTPAddr() + "/whep/tcp",
		OnPacket: func(k stream.Kind, _ *rtp.Packet) { got.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	waitFor(t, 20*time.Second, "video over ICE-TCP", func() bool { return got.Load() > 100 })
	pair, err := c.PeerConnection().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol.String() != "tcp" {
		t.Fatalf("selected pair %v (%v), want tcp", pair, err)
	}
	// Its writes can block, so it has a writer of its own.
	if n := counterValue(t, e.reg, "livedrop_media_writers", map[string]string{"kind": "tcp"}); n != 1 {
		t.Fatalf("%v ICE-TCP writers, want 1", n)
	}

	links := c.LinkHeaders()
	if len(links) != 2 || !strings.Contains(links[0], "<stun:stun.example.net:3478>") ||
		!strings.Contains(links[1], `username="viewer"`) || !strings.Contains(links[1], `rel="ice-server"`) {
		t.Fatalf("Link headers %q", links)
	}
}

// freeTCPPort returns a TCP port free on every address at the time of
// asking (the ICE TCP mux listens on all of them); as freeUDPPort, it may
// be taken before the node binds it.
func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
