package whep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedrop/livedrop/internal/fanout"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/srtpdirect"
	"github.com/livedrop/livedrop/internal/stream"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Retransmissions per viewer are bounded so a NACK storm from one lossy
// or overloaded player cannot take the node's CPU (FIELD-NOTES).
const (
	rtxPerSecond = 400
	rtxBurst     = 200
)

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// session is one WHEP player.
type session struct {
	srv     *Server
	id      string
	stream  *stream.Stream
	pc      *webrtc.PeerConnection
	senders *peer.Senders
	release func()
	start   time.Time

	done      chan struct{}
	closeOnce sync.Once
	rtxLimit  *rate.Limiter
	keys      *srtpdirect.KeyCapture
	out       *fanout.Output
	wire      []peer.Packet // WriteRun's scratch, owned by the session's writer

	viewers   prometheus.Gauge
	m         sessionMetrics
	node      bool     // the peer presented a node token (an edge)
	audience  audience // what the edge reported, when node
	connected atomic.Bool
	viewer    viewerState // receiver reports and claim (viewer.go)
	halfOpen  *time.Timer // closes the session if ICE is not up in time; guarded by srv.mu
	ended     bool        // close ran; guarded by srv.mu
	// events is the player's open events data channel (Move tells it).
	events atomic.Pointer[webrtc.DataChannel]
	tag    viewTag   // who watches (views.go)
	view   viewState // its join and leave (views.go)
}

// sessionMetrics are a session's metric children, looked up once.
type sessionMetrics struct {
	nacked, rtx, rtxMissing, rtxLimited prometheus.Counter
	keyIn                               prometheus.Counter
}

// gatherWait bounds the wait for a session's ICE candidates before the
// answer goes out.
const gatherWait = 3 * time.Second

// newSession sets up a session answering offer. ctx is the request's: when
// the client goes away before the session is in the table (during the
// wait for ICE candidates), it is abandoned and its peer connection closed
// at once, with errClientGone.
func (s *Server) newSession(ctx context.Context, st *stream.Stream, release func(), offer string, withAudio, node bool, start time.Time, tag viewTag) (*session, string, error) {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return nil, "", errShutdown
	}
	s.mu.Unlock()

	tracks, _ := st.State()
	m := s.p.Metrics
	name := st.Name()
	ss := &session{
		srv: s, id: newID(), stream: st, release: release, start: start, done: make(chan struct{}), node: node, tag: tag,
		rtxLimit: rate.NewLimiter(rtxPerSecond, rtxBurst),
		keys:     &srtpdirect.KeyCapture{},
		viewers:  m.Viewers.WithLabelValues(name, s.p.Region),
		m: sessionMetrics{
			nacked:     m.NACKs.WithLabelValues(name),
			rtx:        m.Retransmissions.WithLabelValues(name, "sent"),
			rtxMissing: m.Retransmissions.WithLabelValues(name, "not_in_history"),
			rtxLimited: m.Retransmissions.WithLabelValues(name, "rate_limited"),
			keyIn:      m.KeyframeRequests.WithLabelValues("in"),
		},
	}
	ss.audience.init()
	pc, err := s.p.API.NewSessionPC(ss.keys)
	if err != nil {
		return nil, "", fmt.Errorf("new peer connection: %w", err)
	}
	ss.pc = pc
	fail := func(err error) (*session, string, error) {
		_ = pc.Close()
		return nil, "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadSDP, err))
	}
	ss.senders = &peer.Senders{Video: peer.NewTrack(webrtc.RTPCodecTypeVideo, peer.TrackCapability(tracks.Video), "video", name)}
	senders := []*webrtc.RTPSender{}
	vs, err := pc.AddTrack(ss.senders.Video)
	if err != nil {
		return fail(fmt.Errorf("%w: add video: %v", ErrBadSDP, err))
	}
	senders = append(senders, vs)
	if withAudio {
		ss.senders.Audio = peer.NewTrack(webrtc.RTPCodecTypeAudio, peer.TrackCapability(tracks.Audio), "audio", name)
		as, err := pc.AddTrack(ss.senders.Audio)
		if err != nil {
			return fail(fmt.Errorf("%w: add audio: %v", ErrBadSDP, err))
		}
		// The answer names the stream's audio codec alone: listed after
		// Opus, a G.711 track would be taken for Opus by a player that
		// reads the answer's first codec (an edge pulling the stream).
		if c, ok := peer.AudioCodec(tracks.Audio.MimeType); ok {
			for _, tr := range pc.GetTransceivers() {
				if tr.Sender() == as {
					if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{c}); err != nil {
						return fail(fmt.Errorf("%w: audio codec: %v", ErrBadSDP, err))
					}
				}
			}
		}
		senders = append(senders, as)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadSDP, err))
	}
	gathered := s.gathered(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("set local description: %w", err))
	}
	wait := time.NewTimer(gatherWait)
	select {
	case <-gathered:
	case <-wait.C:
	case <-ctx.Done():
	}
	wait.Stop()
	if ctx.Err() != nil {
		// Before the session's callbacks are set and it is in the table:
		// closing its peer connection is all there is to clean up.
		return fail(fmt.Errorf("%w: %w", errClientGone, context.Cause(ctx)))
	}

	out, err := s.engine.Attach(st, ss, fanout.OutputParams{Audio: withAudio, Start: start})
	switch {
	case errors.Is(err, fanout.ErrClosed):
		return fail(errShutdown)
	case err != nil: // the stream ended meanwhile
		return fail(ErrOffline)
	}
	ss.out = out
	pc.OnDataChannel(ss.serveEvents)
	var joinOnce sync.Once
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		switch state {
		case webrtc.PeerConnectionStateConnected:
			// Writes before DTLS is up are lost: the session gets packets
			// from now on.
			joinOnce.Do(func() {
				ss.connected.Store(true)
				path := "pion"
				if s.p.API.UseDirect(ss.senders, vs, ss.keys, s.log.With("session", ss.id)) {
					path = "direct"
				}
				m.SessionPaths.WithLabelValues(path).Inc()
				ss.out.Start(peer.OverTCP(vs))
				ss.view.join(ss)
			})
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.goClose(ss, "peer connection "+state.String())
		}
	})

	s.mu.Lock()
	if s.shutdown || ss.ended {
		s.mu.Unlock()
		ss.out.Close()
		if ss.ended {
			// Its peer connection failed meanwhile and close ran: it
			// released the stream and counted the viewer out, never in.
			ss.viewers.Inc()
			return fail(errEndedInSetup)
		}
		return fail(errShutdown)
	}
	s.sessions[ss.id] = ss
	s.wg.Add(len(senders))
	// A session answered but never connected (a client that offers and
	// goes, or a flood of offers) is closed: it would hold its peer
	// connection, goroutines and a place in the budget.
	ss.halfOpen = time.AfterFunc(s.p.Budget.ICETimeout, func() {
		if !ss.connected.Load() {
			m.HalfOpenClosed.Inc()
			s.goClose(ss, "ICE not connected within "+s.p.Budget.ICETimeout.String())
		}
	})
	s.mu.Unlock()
	ss.viewers.Inc()
	m.SessionsCreated.WithLabelValues(s.p.Role).Inc()

	for _, snd := range senders {
		go ss.readRTCP(snd)
	}
	s.log.Info("session started", "stream", name, "session", ss.id, "audio", withAudio)
	return ss, pc.LocalDescription().SDP, nil
}

// goClose closes a session from a pion callback without blocking it.
func (s *Server) goClose(ss *session, why string) {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return // Close is ending it
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		ss.close(why)
	}()
}

func (ss *session) close(why string) {
	ss.closeOnce.Do(func() {
		s := ss.srv
		s.mu.Lock()
		delete(s.sessions, ss.id)
		halfOpen := ss.halfOpen
		ss.ended = true
		s.mu.Unlock()
		close(ss.done)
		// After done is closed: Move, woken, sees this session gone.
		s.mu.Lock()
		s.noteLeft()
		s.mu.Unlock()
		if halfOpen != nil {
			halfOpen.Stop()
		}
		ss.out.Close()
		_ = ss.pc.Close()
		ss.viewers.Dec()
		ss.view.leave(ss) // and a node's sessions (views.go)
		ss.release()
		s.log.Info("session ended", "stream", ss.stream.Name(), "session", ss.id, "reason", why)
	})
}

// retransmit answers a NACK from the stream's shared packet history.
func (ss *session) retransmit(nack *rtcp.TransportLayerNack) {
	var pkt rtp.Packet // not ss.out.pkt: the writer owns that
	for _, pair := range nack.Nacks {
		for _, seq := range pair.PacketList() {
			ss.m.nacked.Inc()
			p := ss.stream.Recent(seq)
			if p == nil {
				ss.m.rtxMissing.Inc()
				continue
			}
			if !ss.rtxLimit.Allow() {
				ss.m.rtxLimited.Inc()
				continue
			}
			pkt.Header = p.Header
			if ts, ok := ss.out.ReplayTimestamp(seq); ok {
				pkt.Timestamp = ts
			}
			pkt.Payload = p.Payload
			if err := ss.senders.Video.WriteRTX(&pkt); err == nil {
				ss.m.rtx.Inc()
			}
		}
	}
}

// readRTCP reads a sender's RTCP: NACKs are answered from the stream's
// history, keyframe requests passed to the stream, which coalesces them.
func (ss *session) readRTCP(snd *webrtc.RTPSender) {
	defer ss.srv.wg.Done()
	peer.ReadRTCP(snd, ss.keyframeRequested, ss.retransmit, ss.report)
}

func (ss *session) keyframeRequested() {
	ss.m.keyIn.Inc()
	ss.stream.RequestKeyframe()
}

// WriteRun writes run on the session's tracks and sets what left
// (fanout.Sink).
func (ss *session) WriteRun(run []fanout.Packet) {
	wire := ss.wire[:0]
	for i := range run {
		p := &run[i]
		wire = append(wire, peer.Packet{Header: p.Src.Header, Payload: p.Src.Payload, Audio: p.Audio, At: p.Src.At})
		wire[i].Header.Timestamp = p.Timestamp
	}
	ss.senders.WriteRun(wire)
	for i := range wire {
		run[i].Sent = wire[i].Sent
	}
	clear(wire)
	ss.wire = wire[:0]
}

// StreamEnded closes the session, without blocking its writer
// (fanout.Sink).
func (ss *session) StreamEnded() { ss.srv.goClose(ss, "stream ended") }

// SendReports sends the session's RTCP sender reports (fanout.Sink):
// players map RTP time to wall-clock time with them to play audio and
// video in sync.
func (ss *session) SendReports(now time.Time) {
	var pkts [2]rtcp.Packet
	n := 0
	if sr, ok := ss.senders.Video.SenderReport(now); ok {
		pkts[n] = &sr
		n++
	}
	if ss.senders.Audio != nil {
		if sr, ok := ss.senders.Audio.SenderReport(now); ok {
			pkts[n] = &sr
			n++
		}
	}
	if n > 0 {
		_ = ss.pc.WriteRTCP(pkts[:n])
	}
}

// serveEvents pumps a feed into a session's events data channel until the
// channel or the session closes.
func (ss *session) serveEvents(dc *webrtc.DataChannel) {
	if dc.Label() != EventsLabel {
		return
	}
	if ss.node {
		// An edge says upstream how many watch through it (audience.go);
		// what a player sends is not listened to.
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			ss.audience.take(m.Data)
			ss.takeViews(m.Data)
		})
	}
	feed := ss.srv.p.Events
	if feed == nil {
		return
	}
	dc.OnOpen(func() {
		ss.events.Store(dc)
		ss.srv.mu.Lock()
		if ss.srv.shutdown {
			ss.srv.mu.Unlock()
			return
		}
		ss.srv.wg.Add(1)
		ss.srv.mu.Unlock()
		go func() {
			defer ss.srv.wg.Done()
			msgs, cancel := feed.Subscribe(ss.stream.Name())
			defer cancel()
			closed := make(chan struct{})
			dc.OnClose(func() { close(closed) })
			for {
				select {
				case <-ss.done:
					return
				case <-closed:
					return
				case m, ok := <-msgs:
					if !ok {
						return
					}
					if err := dc.SendText(string(m)); err != nil {
						return
					}
				}
			}
		}()
	})
}
