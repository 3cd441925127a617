// Package whep is WHEP (WebRTC-HTTP Egress Protocol) signalling: the
// server's POST, PATCH, DELETE and OPTIONS handlers and its table of
// sessions, and the client an edge pulls its origin with (Dial).
//
// It translates between HTTP and the rooms that do the work: peer (pion:
// peer connections, tracks, RTCP), fanout (feeding a stream's packets to
// the sessions) and stream. The rules live elsewhere.
package whep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livedrop/livedrop/internal/fanout"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/mediametrics"
	"github.com/livedrop/livedrop/internal/peer"
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
	// Authorize, when set, is asked first whether an offer may open a
	// session on the stream; a refusal is answered with its status (401,
	// 403) and message before anything is read or built. Nil lets anyone.
	Authorize func(r *http.Request, stream string) (status int, err error)
	// IsNode, when set, tells an offer from a livedrop node (its node
	// token): such a session's audience reports are believed (Audience).
	IsNode func(r *http.Request) bool
	// Budget bounds sessions (zero: DefaultEdgeBudget).
	Budget Budget
	// Now is the budget's clock (nil: time.Now).
	Now func() time.Time
	// Views, when set, is told viewer sessions' joins and leaves, and
	// those nodes report (views.go).
	Views ViewSink
}

// Server answers WHEP requests.
type Server struct {
	p      ServerParams
	log    *slog.Logger
	closed chan struct{}
	wg     sync.WaitGroup

	engine *fanout.Engine
	budget *budget
	// gathered is when a session's ICE gathering is complete (a hook for
	// tests: webrtc.GatheringCompletePromise).
	gathered func(*webrtc.PeerConnection) <-chan struct{}

	mu       sync.Mutex
	sessions map[string]*session
	shutdown bool
	move     mover
}

// NewServer returns a server; Close ends its sessions.
func NewServer(p ServerParams) *Server {
	if p.QueueSize <= 0 {
		p.QueueSize = 512
	}
	if p.Budget == (Budget{}) {
		p.Budget = DefaultEdgeBudget()
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	for _, r := range []string{"unauthorized", "global_cap", "ip_cap", "rate", "draining"} {
		p.Metrics.SetupFailures.WithLabelValues(r)
	}
	return &Server{
		budget:   newBudget(p.Budget, p.Now),
		p:        p,
		log:      p.Logger.With("component", "whep-server"),
		closed:   make(chan struct{}),
		sessions: map[string]*session{},
		engine: fanout.New(fanout.Params{Metrics: p.Metrics, QueueSize: p.QueueSize,
			NoGOPStart: p.NoGOPStart, AudioHold: p.AudioHold}),
		gathered: webrtc.GatheringCompletePromise,
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
	if s.moving() {
		w.Header().Set("Retry-After", retryAfter(drainRetryAfter))
		s.fail(w, http.StatusServiceUnavailable, "draining", "this node is draining: offer to another one")
		return
	}
	if s.p.Authorize != nil {
		if code, err := s.p.Authorize(r, name); err != nil {
			if code == 401 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop"`)
			}
			s.fail(w, code, "unauthorized", err.Error())
			return
		}
	}
	// The budget before anything costly: a refused offer is not read, makes
	// no peer connection and starts no goroutine.
	unbudget, ref := s.budget.admit(guard.HostKey(r.RemoteAddr)) // an IPv6 /64 is one address
	if ref != nil {
		w.Header().Set("Retry-After", retryAfter(ref.retryAfter))
		s.fail(w, ref.code, ref.reason, ref.msg)
		return
	}
	admitted := false
	defer func() {
		if !admitted {
			unbudget()
		}
	}()
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

	st, acquired, err := s.p.Source.Acquire(r.Context(), name)
	if err == nil {
		admitted = true // from here the session's release gives the place back
	}
	release := func() {
		acquired()
		unbudget()
	}
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
	node := s.p.IsNode != nil && s.p.IsNode(r)
	ss, answer, err := s.newSession(r.Context(), st, release, string(body), audio != nil, node, start, tagOf(r))
	if err != nil {
		if !errors.Is(err, errEndedInSetup) {
			release() // else the session's close did
		}
		if errors.Is(err, errClientGone) {
			// Nobody reads this answer; 499 is what proxies log for it.
			s.fail(w, 499, "client_gone", "client closed the request")
			return
		}
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
	trickle(w, r.Body, ss.pc) // trickle.go
}

var (
	// errEndedInSetup: the session's peer connection failed, and the
	// session was closed, before it was in the table.
	errEndedInSetup = errors.New("peer connection failed during session setup")
	errShutdown     = errors.New("server shutting down")
	errClientGone   = errors.New("client went away during session setup")
)
