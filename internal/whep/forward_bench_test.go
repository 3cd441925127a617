package whep

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

type staticSource struct{ st *stream.Stream }

func (s staticSource) Acquire(context.Context, string) (*stream.Stream, func(), error) {
	return s.st, func() {}, nil
}

// forwardRig is a WHEP server with n pion viewers on loopback.
type forwardRig struct {
	st       *stream.Stream
	received atomic.Int64
	perView  []atomic.Int64
	srv      *Server
	clients  []*Client
	seq      uint16
}

func newForwardRig(tb testing.TB, n int, useMux bool) *forwardRig {
	tb.Helper()
	// The viewers run without receive-side interceptors, which allocate per
	// packet received; the server runs as in production.
	api, _, err := peer.NewAPI(peer.DefaultICEConfig(), peer.WithLightReceiver())
	if err != nil {
		tb.Fatal(err)
	}
	srvAPI, _, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		tb.Fatal(err)
	}
	if useMux {
		cfg := peer.DefaultICEConfig()
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		cfg.UDPPort = c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		var closeMux func() error
		srvAPI, closeMux, err = peer.NewAPI(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = closeMux() })
	}
	m, err := mediametrics.New(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	r := &forwardRig{st: stream.New("bench", time.Second), perView: make([]atomic.Int64, n)}
	r.st.SetTracks(stream.Tracks{Video: &stream.Codec{MimeType: "video/H264", ClockRate: 90000, SDPFmtpLine: media.H264Fmtp}})
	r.srv = NewServer(ServerParams{Budget: benchBudget, API: srvAPI, Source: staticSource{r.st}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: m, Role: "origin", QueueSize: 1024})
	mux := http.NewServeMux()
	r.srv.Register(mux)
	hs := httptest.NewServer(mux)
	tb.Cleanup(func() {
		for _, c := range r.clients {
			_ = c.Close(context.Background())
		}
		r.srv.Close()
		hs.Close()
	})
	for i := 0; i < n; i++ {
		c, err := Dial(context.Background(), ClientParams{API: api, HTTP: hs.Client(), URL: hs.URL + "/whep/bench", NoAudio: true, ReuseBuffers: true,
			OnPacket: func(stream.Kind, *rtp.Packet) { r.received.Add(1); r.perView[i].Add(1) }})
		if err != nil {
			tb.Fatal(err)
		}
		r.clients = append(r.clients, c)
	}
	// Send keyframes until every viewer has started.
	deadline := time.Now().Add(30 * time.Second)
	for !r.allGot() {
		if time.Now().After(deadline) {
			tb.Fatalf("viewers did not start")
		}
		r.write(true)
		time.Sleep(5 * time.Millisecond)
	}
	return r
}

func (r *forwardRig) allGot() bool {
	for i := range r.perView {
		if r.perView[i].Load() < 2 {
			return false
		}
	}
	return true
}

var payload = func() []byte {
	b := make([]byte, 1200)
	b[0] = 0x41 // non-IDR slice
	return b
}()

var keyPayload = func() []byte {
	b := make([]byte, 1200)
	b[0] = 0x65
	return b
}()

func (r *forwardRig) write(key bool) {
	r.writeInto(&stream.Packet{}, key)
}

// writeInto writes p (which must not be in use) as the next packet.
func (r *forwardRig) writeInto(p *stream.Packet, key bool) {
	*p = stream.Packet{Kind: stream.Video, Header: rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: r.seq,
		Timestamp: uint32(r.seq) * 3000, SSRC: 1, Marker: true}, Payload: payload, Keyframe: key}
	if key {
		p.Payload = keyPayload
	}
	r.seq++
	r.st.WritePacket(p)
}

// TestForwardAllocations: in the steady state, forwarding to 10 viewers
// (fan-out, queues, pion track write, SRTP, UDP, and the pion receivers
// reading into reused buffers) allocates next to nothing per packet. pion
// allocates on timers too (STUN keepalives, RTCP reports): an idle window
// as long as the forwarding one measures that, and is subtracted.
//
// It runs on both send paths: pion's (sessions with their own sockets) and
// the direct one (sessions on the node's UDP mux, protected by the node).
func TestForwardAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race; make test runs this without it")
	}
	for _, mux := range []bool{false, true} {
		name := "pion"
		if mux {
			name = "direct"
		}
		t.Run(name, func(t *testing.T) { testForwardAllocations(t, mux) })
	}
}

func testForwardAllocations(t *testing.T, useMux bool) {
	const viewers, warmup, packets = 10, 500, 4000
	r := newForwardRig(t, viewers, useMux)
	want := "pion"
	if useMux {
		want = "direct"
	}
	if got := testutil.ToFloat64(r.srv.p.Metrics.SessionPaths.WithLabelValues(want)); got != viewers {
		t.Fatalf("%v of %d sessions on the %s path", got, viewers, want)
	}
	pool := make([]stream.Packet, warmup+packets) // the source's packets, made up front
	forward := func(from, to int) {
		start := r.received.Load()
		for i := from; i < to; i++ {
			r.writeInto(&pool[i], false)
			if i%16 == 15 || i == to-1 {
				want := start + int64(i-from+1)*viewers
				deadline := time.Now().Add(time.Second)
				for r.received.Load() < want && time.Now().Before(deadline) {
					runtime.Gosched()
				}
			}
		}
	}
	forward(0, warmup)

	var m0, m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start, began := r.received.Load(), time.Now()
	forward(warmup, warmup+packets)
	took := time.Since(began)
	runtime.ReadMemStats(&m1)
	delivered := r.received.Load() - start
	time.Sleep(took) // the idle window: timers only
	runtime.ReadMemStats(&m2)

	busy, idle := m1.Mallocs-m0.Mallocs, m2.Mallocs-m1.Mallocs
	perPacket := (float64(busy) - float64(idle)) / float64(delivered)
	t.Logf("%d allocations forwarding %d packets in %v, %d idle for as long: %.4f per packet per viewer",
		busy, delivered, took, idle, perPacket)
	if delivered < packets*viewers*9/10 {
		t.Fatalf("only %d of %d packets delivered", delivered, packets*viewers)
	}
	// One allocation per packet per viewer would read 1.0; what remains
	// (about 0.03) is pion's ICE/STUN work that runs while traffic flows.
	if perPacket > 0.1 {
		t.Fatalf("%.4f allocations per delivered packet, want ~0", perPacket)
	}
}

// BenchmarkForward measures the whole forwarding path per packet: fan-out,
// per-viewer queue and writer, pion track write, interceptors, SRTP, UDP,
// for N real viewers on loopback. The viewers (pion receivers, with SRTP
// decryption) run in the same process, so the CPU figures include
// receiving: an upper bound on the server's cost. cpu-ns/delivered is the
// process's CPU time (getrusage) per packet delivered to one viewer.
func BenchmarkForward(b *testing.B) {
	for _, c := range []struct {
		n   int
		mux bool
	}{{1, false}, {10, false}, {100, false}, {1, true}, {10, true}, {100, true}} {
		name := fmt.Sprintf("viewers=%d", c.n)
		if c.mux {
			name = "udpmux/" + name
		}
		n := c.n
		b.Run(name, func(b *testing.B) {
			r := newForwardRig(b, n, c.mux)
			const burst = 16
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			start := r.received.Load()
			sent := 0
			for sent < b.N {
				k := min(burst, b.N-sent)
				for i := 0; i < k; i++ {
					r.write(false)
				}
				sent += k
				// Wait for the burst to arrive, or for delivery to stall
				// (a packet lost on loopback must not hold the run).
				want := start + int64(sent)*int64(n)
				last, lastAt := r.received.Load(), time.Now()
				for cur := last; cur < want; cur = r.received.Load() {
					if cur != last {
						last, lastAt = cur, time.Now()
					} else if time.Since(lastAt) > 20*time.Millisecond {
						break
					}
					time.Sleep(20 * time.Microsecond)
				}
			}
			b.StopTimer()
			delivered := max(r.received.Load()-start, 1)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(delivered), "wall-ns/delivered")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(delivered), "cpu-ns/delivered")
			b.ReportMetric(100*(1-float64(delivered)/float64(int64(b.N)*int64(n))), "loss%")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
