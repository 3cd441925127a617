package camera

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"
)

const (
	testUser     = "cam"
	testPassword = "s3cret:/@pass"
	testPath     = "demo"
)

// received is one RTP packet as the test server saw it.
type received struct {
	video   bool
	pkt     *rtp.Packet
	arrived time.Time
	session int // index of the announce that opened its session
}

// recorder is a real gortsplib RTSP server that accepts ANNOUNCE and RECORD
// on /demo with testUser and testPassword, answers 401 otherwise, and records
// what arrives. Tests wait on its state with wait, never with sleeps.
type recorder struct {
	server *gortsplib.Server
	addr   string

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	announced []*description.Session
	refused   int
	recording int
	closed    int
	packets   []received
	sessions  map[*gortsplib.ServerSession]int
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{changed: make(chan struct{}), sessions: map[*gortsplib.ServerSession]int{}}
	r.server = &gortsplib.Server{
		Handler:     r,
		RTSPAddress: "127.0.0.1:0",
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err == nil {
				r.addr = l.Addr().String()
			}
			return l, err
		},
	}
	if err := r.server.Start(); err != nil {
		t.Fatalf("start rtsp server: %v", err)
	}
	t.Cleanup(r.server.Close)
	return r
}

// url is where the camera publishes.
func (r *recorder) url() string { return "rtsp://" + r.addr + "/" + testPath }

// update runs f under the lock and wakes the waiters.
func (r *recorder) update(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
	close(r.changed)
	r.changed = make(chan struct{})
}

// wait waits until cond, called under the lock, holds, or fails the test
// after timeout.
func (r *recorder) wait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// snapshot returns a copy of the packets received so far.
func (r *recorder) snapshot() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.packets...)
}

// closeSessions drops every session, as a server restart would.
func (r *recorder) closeSessions() {
	r.mu.Lock()
	var ss []*gortsplib.ServerSession
	for s := range r.sessions {
		ss = append(ss, s)
	}
	r.mu.Unlock()
	for _, s := range ss {
		s.Close()
	}
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (r *recorder) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	r.update(func() {
		if _, ok := r.sessions[ctx.Session]; ok {
			delete(r.sessions, ctx.Session)
			r.closed++
		}
	})
}

// OnAnnounce implements gortsplib.ServerHandlerOnAnnounce.
func (r *recorder) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	if !ctx.Conn.VerifyCredentials(ctx.Request, testUser, testPassword) {
		// The first ANNOUNCE comes without credentials; only count the
		// refusals of credentials that were sent.
		if _, ok := ctx.Request.Header["Authorization"]; ok {
			r.update(func() { r.refused++ })
		}
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	if strings.TrimPrefix(ctx.Path, "/") != testPath {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	r.update(func() {
		r.sessions[ctx.Session] = len(r.announced)
		r.announced = append(r.announced, ctx.Description)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (r *recorder) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() != gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil, nil
	}
	if ctx.Transport != gortsplib.TransportTCP {
		return &base.Response{StatusCode: base.StatusUnsupportedTransport}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

// OnRecord implements gortsplib.ServerHandlerOnRecord.
func (r *recorder) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	r.mu.Lock()
	session := r.sessions[ctx.Session]
	r.mu.Unlock()
	ctx.Session.OnPacketRTPAny(func(_ *description.Media, f format.Format, pkt *rtp.Packet) {
		now := time.Now()
		_, video := f.(*format.H264)
		r.update(func() {
			r.packets = append(r.packets, received{video: video, pkt: pkt.Clone(), arrived: now, session: session})
		})
	})
	r.update(func() { r.recording++ })
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// runCamera runs cam in the background and returns a function that cancels
// it and returns Run's error, failing the test unless Run returns promptly.
func runCamera(t *testing.T, cam *Camera) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cam.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(3 * time.Second):
				t.Fatal("Run did not return within 3s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}
