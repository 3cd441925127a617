package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/edge"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/livedrop/livedrop/internal/whep"
)

// TestDrainSendsViewersOnlyToReadySiblings: edge A lists four siblings:
// B, itself draining (its /readyz says 503 while it waits for its own
// viewer), an address nobody listens at, and C and D, ready. Four viewers
// (pion WHEP clients with the events channel) watch at A; A drains. Each
// is told to move within move_grace, to C or D only, two to each, and A's
// wait ends once they have left.
func TestDrainSendsViewersOnlyToReadySiblings(t *testing.T) {
	origin := startOriginProcess(t, nil)
	pub := startFFmpeg(t, encodeArgs(30), fmt.Sprintf("rtsp://%s:%s@%s/cam", pubUser, pubPass, origin.ports["LIVEDROP_RTSP_ADDR"]))
	t.Cleanup(pub.stop)
	waitFor(t, 20*time.Second, "the origin receiving the camera", func() bool {
		return scrape(t, origin.url, `livedrop_rtp_packets_received_total{kind="video",stream="cam"}`) > 30
	})

	b, stopB := runEdge(t, origin.url, func(c *edge.Config) { c.MoveGrace = time.Minute })
	c, _ := runEdge(t, origin.url, nil)
	d, _ := runEdge(t, origin.url, nil)
	gone := listen(t)
	goneURL := "http://" + gone.Addr().String()
	gone.Close()
	urlOf := func(e *edge.Edge) string { return "http://" + e.HTTPAddr() }

	// B drains, held by its one viewer (told to move, it stays).
	bViewer, _ := dialMover(t, urlOf(b)+"/whep/cam")
	stopB()
	waitFor(t, 15*time.Second, "edge B draining", func() bool {
		resp, err := http.Get(urlOf(b) + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})

	a, stopA := runEdge(t, origin.url, func(cfg *edge.Config) {
		cfg.Siblings = []string{urlOf(b), goneURL, urlOf(c), urlOf(d)}
		cfg.MoveGrace = 20 * time.Second
	})
	type told struct {
		i int
		n edge.MoveNotice
	}
	notices := make(chan told, 16)
	var viewers []*whep.Client
	end := make(chan struct{})
	defer close(end)
	for i := range 4 {
		v, ch := dialMover(t, urlOf(a)+"/whep/cam")
		viewers = append(viewers, v)
		go func() {
			for {
				select {
				case <-end:
					return
				case msg := <-ch:
					var n edge.MoveNotice
					if json.Unmarshal(msg, &n) == nil && n.Type == "moving" {
						notices <- told{i, n}
						return
					}
				}
			}
		}()
	}
	start := time.Now()
	stopped := stopA()
	per := map[string]int{}
	for range 4 {
		select {
		case tn := <-notices:
			if tn.n.To != urlOf(c) && tn.n.To != urlOf(d) {
				t.Fatalf("viewer %d told to move to %q; want only the ready siblings %s, %s (B draining %s, gone %s)",
					tn.i, tn.n.To, urlOf(c), urlOf(d), urlOf(b), goneURL)
			}
			per[tn.n.To]++
			// As a page does once it plays at the sibling: end the session here.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = viewers[tn.i].Close(ctx)
			cancel()
		case <-time.After(15 * time.Second):
			t.Fatalf("only %d of 4 viewers were told to move", len(per))
		}
	}
	if per[urlOf(c)] != 2 || per[urlOf(d)] != 2 {
		t.Fatalf("viewers per sibling %v: want two at each of C and D", per)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("edge A: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("edge A did not finish its drain after its viewers left")
	}
	t.Logf("4 viewers told and gone, A drained in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = bViewer.Close(ctx)
}

// runEdge runs an in-process edge until stop (or the test's end); stop
// cancels its Run (a SIGTERM) and returns the channel Run's result comes on.
func runEdge(t *testing.T, upstream string, mod func(*edge.Config)) (*edge.Edge, func() <-chan error) {
	t.Helper()
	var e *edge.Edge
	bindAttempts(t, "start edge", func() error {
		cfg := edge.DefaultConfig()
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.OriginURL = upstream
		cfg.Access.NodeSecrets = []string{nodeSecret}
		cfg.DataDir = t.TempDir()
		cfg.Region = "test-region"
		cfg.ICE.UDPPort = freeUDPPort(t)
		cfg.ShutdownGrace = 2 * time.Second
		if mod != nil {
			mod(&cfg)
		}
		ln := listen(t)
		var err error
		e, err = edge.New(edge.Params{Config: cfg, Logger: testLogger(t), Registry: prometheus.NewRegistry(), HTTPListener: ln, Events: stateFeed{}})
		if err != nil {
			ln.Close()
		}
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	done, finished := make(chan error, 1), make(chan struct{})
	go func() { done <- e.Run(ctx); close(finished) }()
	var once sync.Once
	stop := func() <-chan error { once.Do(cancel); return done }
	t.Cleanup(func() {
		stop()
		select {
		case <-finished:
		case <-time.After(90 * time.Second):
			t.Errorf("edge did not stop")
		}
	})
	waitFor(t, 20*time.Second, "edge ready", func() bool {
		resp, err := http.Get("http://" + e.HTTPAddr() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return e, stop
}

// dialMover dials a viewer with the events channel, waits for its first
// message and returns the channel of the next ones.
func dialMover(t *testing.T, url string) (*whep.Client, <-chan []byte) {
	t.Helper()
	api, closeICE, err := peer.NewAPI(peer.DefaultICEConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeICE() })
	msgs := make(chan []byte, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := whep.Dial(ctx, whep.ClientParams{API: api, HTTP: &http.Client{Timeout: 10 * time.Second}, URL: url, NoAudio: true,
		OnPacket: func(stream.Kind, *rtp.Packet) {},
		OnEvent: func(msg []byte) {
			select {
			case msgs <- append([]byte(nil), msg...):
			default:
			}
		}})
	if err != nil {
		t.Fatalf("viewer at %s: %v", url, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	// The events channel is open once the feed's first message came: only
	// then can the edge tell this viewer to move.
	select {
	case <-msgs:
	case <-time.After(15 * time.Second):
		t.Fatalf("viewer at %s: the events channel never delivered", url)
	}
	return c, msgs
}

// stateFeed is an events feed with one message, the empty state, as the
// origin's feed sends first to every subscriber.
type stateFeed struct{}

func (stateFeed) Subscribe(string) (<-chan []byte, func()) {
	ch := make(chan []byte, 1)
	ch <- []byte(`{"v":1,"type":"state","seq":0,"overlays":[]}`)
	return ch, func() {}
}
