// Package whep serves and pulls live streams over WHEP (WebRTC-HTTP Egress
// Protocol): the server side answers players and downstream edges, the
// client side is how an edge pulls from its origin. It translates between
// HTTP/WebRTC and the stream package; the rules live elsewhere.
package whep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/livedrop/livedrop/internal/fanout"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/srtpdirect"
	"github.com/livedrop/livedrop/internal/stream"
)

// Errors a Source returns; the server maps them to status codes.
var (
	ErrNotFound = errors.New("stream not found")
	ErrOffline  = errors.New("stream offline")
)

// Source finds the stream a session plays. Acquire may start work (an edge
// pulls from upstream) and blocks until the stream's tracks are known; the
// server calls release when the session ends.
type Source interface {
	Acquire(ctx context.Context, name string) (s *stream.Stream, release func(), err error)
}

// ServerParams configure a Server.
type ServerParams struct {
	API     *peer.API
	Source  Source
	Logger  *slog.Logger
	Metrics *mediametrics.Metrics
	Role    string // "origin" or "edge", for metrics
	Region  string
	// QueueSize is each session's packet queue (default 512).
	QueueSize int
	// ICEServers are Link header values handing players STUN/TURN servers
	// (ICEConfig.LinkHeaders).
	ICEServers []string
	// Events, when set, feeds the "events" data channel of each session.
	Events EventFeed
	// NoGOPStart makes new sessions wait for the source's next keyframe
	// instead of replaying the kept GOP (for comparison).
	NoGOPStart bool
	// AudioHold, when positive, makes audio wait for the end of the next
	// video frame, at most this long, and leave right after it: a viewer's
	// audio packet then rides in the frame's UDP datagram instead of one
	// of its own (see fanout.Params). Zero sends audio as it comes.
	AudioHold time.Duration
}

// Server answers WHEP requests.
type Server struct {
	p      ServerParams
	log    *slog.Logger
	closed chan struct{}
	wg     sync.WaitGroup

	engine *fanout.Engine

	mu       sync.Mutex
	sessions map[string]*session
	shutdown bool
}

// NewServer returns a server; Close ends its sessions.
func NewServer(p ServerParams) *Server {
	if p.QueueSize <= 0 {
		p.QueueSize = 512
	}
	return &Server{
		p:        p,
		log:      p.Logger.With("component", "whep-server"),
		closed:   make(chan struct{}),
		sessions: map[string]*session{},
		engine: fanout.New(fanout.Params{Metrics: p.Metrics, QueueSize: p.QueueSize,
			NoGOPStart: p.NoGOPStart, AudioHold: p.AudioHold}),
	}
}

// Register mounts the WHEP routes on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /whep/{stream}", s.handleOffer)
	mux.HandleFunc("OPTIONS /whep/{stream}", s.handleOptions)
	mux.HandleFunc("DELETE /whep/{stream}/{session}", s.handleDelete)
	mux.HandleFunc("PATCH /whep/{stream}/{session}", s.handlePatch)
	mux.HandleFunc("OPTIONS /whep/{stream}/{session}", s.handleOptions)
}

// Sessions returns how many sessions play the named stream ("" for all).
func (s *Server) Sessions(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		return len(s.sessions)
	}
	n := 0
	for _, ss := range s.sessions {
		if ss.stream.Name() == name {
			n++
		}
	}
	return n
}

// Close ends every session and waits for their goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.shutdown = true
	close(s.closed)
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.close("server shutdown")
	}
	s.engine.Close()
	s.wg.Wait()
}

func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, Link, ETag")
}

func (s *Server) handleOptions(w http.ResponseWriter, r *http.Request) {
	cors(w)
	w.Header().Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) fail(w http.ResponseWriter, code int, reason, msg string) {
	s.p.Metrics.SetupFailures.WithLabelValues(reason).Inc()
	http.Error(w, msg, code)
}

func (s *Server) handleOffer(w http.ResponseWriter, r *http.Request) {
	cors(w)
	start := time.Now()
	name := r.PathValue("stream")
	if !media.ValidName(name) {
		s.fail(w, http.StatusNotFound, "not_found", "unknown stream")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/sdp") {
		s.fail(w, http.StatusUnsupportedMediaType, "bad_content_type", "offer must be application/sdp")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxSDPSize+1))
	if err != nil {
		s.fail(w, http.StatusBadRequest, "bad_offer", "read offer: "+err.Error())
		return
	}
	if len(body) > MaxSDPSize {
		s.fail(w, http.StatusRequestEntityTooLarge, "offer_too_large", fmt.Sprintf("offer larger than %d bytes", MaxSDPSize))
		return
	}
	media, err := parseSDP(body)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "bad_offer", "malformed SDP offer: "+err.Error())
		return
	}
	var video, audio *mediaDesc
	for i := range media {
		switch media[i].kind {
		case "video":
			if video == nil {
				video = &media[i]
			}
		case "audio":
			if audio == nil {
				audio = &media[i]
			}
		}
	}
	if video == nil || !offersH264(*video) {
		s.fail(w, http.StatusBadRequest, "no_h264", "offer has no video section accepting H.264 (packetization-mode=1, profile-level-id 42e0xx)")
		return
	}

	st, release, err := s.p.Source.Acquire(r.Context(), name)
	switch {
	case errors.Is(err, ErrNotFound):
		s.fail(w, http.StatusNotFound, "not_found", "stream not found")
		return
	case errors.Is(err, ErrOffline):
		s.fail(w, http.StatusNotFound, "offline", "stream offline")
		return
	case err != nil:
		s.fail(w, http.StatusServiceUnavailable, "unavailable", "stream unavailable: "+err.Error())
		return
	}
	tracks, _ := st.State()
	if audio != nil && tracks.Audio != nil && !offersCodec(*audio, tracks.Audio) {
		audio = nil // the player cannot take this codec: video only
	}
	if tracks.Audio == nil {
		audio = nil
	}
	ss, answer, err := s.newSession(st, release, string(body), audio != nil, start)
	if err != nil {
		release()
		if errors.Is(err, ErrBadSDP) {
			s.fail(w, http.StatusBadRequest, "bad_offer", err.Error())
			return
		}
		if errors.Is(err, errShutdown) {
			s.fail(w, http.StatusServiceUnavailable, "shutdown", "server shutting down")
			return
		}
		s.log.Warn("session setup failed", "stream", name, "err", err)
		s.fail(w, http.StatusInternalServerError, "internal", "session setup failed")
		return
	}
	loc := "/whep/" + name + "/" + ss.id
	w.Header().Set("Location", loc)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("ETag", `"`+ss.id+`"`)
	for _, l := range s.p.ICEServers {
		w.Header().Add("Link", l)
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

func (s *Server) lookup(r *http.Request) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[r.PathValue("session")]
	if ss == nil || ss.stream.Name() != r.PathValue("stream") {
		return nil
	}
	return ss
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	cors(w)
	ss := s.lookup(r)
	if ss == nil {
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	ss.close("deleted by client")
	w.WriteHeader(http.StatusOK)
}

// handlePatch takes trickled ICE candidates (application/trickle-ice-sdpfrag).
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	cors(w)
	ss := s.lookup(r)
	if ss == nil {
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/trickle-ice-sdpfrag") {
		http.Error(w, "PATCH must be application/trickle-ice-sdpfrag", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxSDPSize))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "a=candidate:") {
			continue
		}
		if err := ss.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a=")}); err != nil {
			http.Error(w, "bad candidate: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

var errShutdown = errors.New("server shutting down")

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

	viewers prometheus.Gauge
	m       sessionMetrics
}

// sessionMetrics are a session's metric children, looked up once.
type sessionMetrics struct {
	nacked, rtx, rtxMissing, rtxLimited prometheus.Counter
	keyIn                               prometheus.Counter
}

func (s *Server) newSession(st *stream.Stream, release func(), offer string, withAudio bool, start time.Time) (*session, string, error) {
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
		srv: s, id: newID(), stream: st, release: release, start: start, done: make(chan struct{}),
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
		senders = append(senders, as)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadSDP, err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("set local description: %w", err))
	}
	select {
	case <-gathered:
	case <-time.After(3 * time.Second):
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
				path := "pion"
				if s.p.API.UseDirect(ss.senders, vs, ss.keys, s.log.With("session", ss.id)) {
					path = "direct"
				}
				m.SessionPaths.WithLabelValues(path).Inc()
				ss.out.Start(peer.OverTCP(vs))
			})
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.goClose(ss, "peer connection "+state.String())
		}
	})

	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		ss.out.Close()
		return fail(errShutdown)
	}
	s.sessions[ss.id] = ss
	s.wg.Add(len(senders))
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
		s.mu.Unlock()
		close(ss.done)
		ss.out.Close()
		_ = ss.pc.Close()
		ss.viewers.Dec()
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
	peer.ReadRTCP(snd, ss.keyframeRequested, ss.retransmit)
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
		wire = append(wire, peer.Packet{Header: p.Src.Header, Payload: p.Src.Payload, Audio: p.Audio})
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
