// Package whip takes publishers over WHIP (RFC 9725): POST an SDP offer,
// get an answer and a session URL, DELETE it to stop; each publisher's
// RTP goes to a Sink, which makes it a stream's source.
package whip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/peer"
	"github.com/livedrop/livedrop/internal/stream"
)

// MaxOfferSize bounds an SDP offer.
const MaxOfferSize = 64 << 10

// ErrLive refuses a publisher on a stream that already has a live source
// (409): a second OBS on the same key must not cut the first one off.
var ErrLive = errors.New("stream already has a live publisher")

// Sink makes publishers streams' sources: the origin.
type Sink interface {
	// Publish makes src the source of stream name with these tracks. It
	// returns ErrLive when the stream has a live source it may not take
	// over.
	Publish(name string, tracks stream.Tracks, src Source) (Ingest, error)
}

// Source is what the sink can ask of a publisher.
type Source interface {
	// RequestKeyframe asks the publisher for a keyframe (RTCP PLI).
	RequestKeyframe()
	// Close ends the publisher's session (another source took over).
	Close()
}

// Ingest takes one publisher's packets.
type Ingest interface {
	// WriteRTP takes a packet of the publisher's video or audio track.
	WriteRTP(kind stream.Kind, pkt *rtp.Packet)
	// SenderReport takes the publisher's RTCP sender report of a track:
	// RTP timestamp ts was captured at ntp (what keeps its tracks in sync).
	SenderReport(kind stream.Kind, ntp time.Time, ts uint32)
	// End says the publisher is gone; the stream keeps its viewers.
	End()
}

// RetryAfterer is an Authorize refusal that knows when to try again
// (a lockout): the answer carries it as Retry-After.
type RetryAfterer interface {
	RetryAfter() time.Duration
}

// ServerParams configure a Server.
type ServerParams struct {
	API  *peer.API
	Sink Sink
	// Authorize, when set, decides whether the request may publish the
	// stream (the publish key as a Bearer token); its refusal's status and
	// message are answered before the offer is read.
	Authorize  func(r *http.Request, stream string) (status int, err error)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// ICEServers are Link header values (ICEConfig.LinkHeaders).
	ICEServers []string
	// ConnectTimeout closes a publisher whose ICE and DTLS are not up
	// within it (default 10 s).
	ConnectTimeout time.Duration
}

// Server answers WHIP requests.
type Server struct {
	p   ServerParams
	log *slog.Logger
	m   *metrics

	mu       sync.Mutex
	pubs     map[string]*publisher
	shutdown bool
	wg       sync.WaitGroup // publishers' goroutines
}

// NewServer builds a server; Close ends its publishers.
func NewServer(p ServerParams) (*Server, error) {
	if p.API == nil || p.Sink == nil || p.Registerer == nil || p.Logger == nil {
		return nil, errors.New("whip: API, Sink, Registerer and Logger are required")
	}
	if p.ConnectTimeout <= 0 {
		p.ConnectTimeout = 10 * time.Second
	}
	m, err := newMetrics(p.Registerer)
	if err != nil {
		return nil, err
	}
	return &Server{p: p, log: p.Logger.With("component", "whip"), m: m, pubs: map[string]*publisher{}}, nil
}

// Register adds POST and OPTIONS /whip/{stream}, and DELETE and PATCH on
// a session's URL.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /whip/{stream}", s.handleOffer)
	mux.HandleFunc("OPTIONS /whip/{stream}", s.handleOptions)
	mux.HandleFunc("OPTIONS /whip/{stream}/{id}", s.handleOptions)
	mux.HandleFunc("DELETE /whip/{stream}/{id}", s.handleDelete)
	mux.HandleFunc("PATCH /whip/{stream}/{id}", s.handlePatch)
}

// Publishers returns how many publishers have a session.
func (s *Server) Publishers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pubs)
}

// Close ends every publisher and refuses new ones.
func (s *Server) Close() {
	s.mu.Lock()
	s.shutdown = true
	all := make([]*publisher, 0, len(s.pubs))
	for _, p := range s.pubs {
		all = append(all, p)
	}
	s.mu.Unlock()
	for _, p := range all {
		p.end("server shutdown")
	}
	s.wg.Wait()
}

func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, Link, ETag")
}

func (s *Server) handleOptions(w http.ResponseWriter, _ *http.Request) {
	cors(w)
	w.Header().Set("Accept-Post", "application/sdp")
	for _, l := range s.p.ICEServers {
		w.Header().Add("Link", l)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) refuse(w http.ResponseWriter, code int, result, msg string) {
	s.m.attempts.WithLabelValues(result).Inc()
	http.Error(w, msg, code)
}

func (s *Server) handleOffer(w http.ResponseWriter, r *http.Request) {
	cors(w)
	name := r.PathValue("stream")
	if !media.ValidName(name) {
		s.refuse(w, http.StatusNotFound, "bad_stream", "stream name must be 1-64 of [A-Za-z0-9_-]")
		return
	}
	if s.p.Authorize != nil {
		if code, err := s.p.Authorize(r, name); err != nil {
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop publish"`)
			}
			var ra RetryAfterer
			if errors.As(err, &ra) {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(ra.RetryAfter().Seconds())))))
			}
			s.refuse(w, code, "unauthorized", err.Error())
			return
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/sdp") {
		s.refuse(w, http.StatusUnsupportedMediaType, "bad_offer", "offer must be application/sdp")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxOfferSize+1))
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "bad_offer", "read offer: "+err.Error())
		return
	}
	if len(body) > MaxOfferSize {
		s.refuse(w, http.StatusRequestEntityTooLarge, "bad_offer", fmt.Sprintf("offer larger than %d bytes", MaxOfferSize))
		return
	}
	tracks, err := offeredTracks(string(body))
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "bad_offer", err.Error())
		return
	}
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		s.refuse(w, http.StatusServiceUnavailable, "shutdown", "shutting down")
		return
	}
	s.mu.Unlock()

	pub, answer, err := s.newPublisher(r.Context(), name, string(body), tracks)
	if err != nil {
		switch {
		case errors.Is(err, ErrLive):
			s.refuse(w, http.StatusConflict, "live", "stream "+name+" already has a live publisher: stop it first")
		case errors.Is(err, errBadOffer):
			s.refuse(w, http.StatusBadRequest, "bad_offer", err.Error())
		default:
			s.log.Warn("publisher setup failed", "stream", name, "err", err)
			s.refuse(w, http.StatusInternalServerError, "error", "publisher setup failed")
		}
		return
	}
	s.m.attempts.WithLabelValues("ok").Inc()
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", "/whip/"+name+"/"+pub.id)
	h.Set("ETag", `"`+pub.id+`"`)
	for _, l := range s.p.ICEServers {
		h.Add("Link", l)
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
	s.log.Info("publisher offered", "stream", name, "session", pub.id, "remote", r.RemoteAddr,
		"video", tracks.Video.MimeType, "audio", tracks.Audio != nil)
}

func (s *Server) lookup(r *http.Request) *publisher {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pubs[r.PathValue("id")]
	if p == nil || p.name != r.PathValue("stream") {
		return nil
	}
	return p
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	cors(w)
	p := s.lookup(r)
	if p == nil {
		http.Error(w, "no such publisher session", http.StatusNotFound)
		return
	}
	p.end("publisher ended the session")
	w.WriteHeader(http.StatusOK)
}

// handlePatch answers trickle ICE: this server gathers all its candidates
// before it answers and needs none from the publisher beyond its
// connectivity checks, so trickle and ICE restarts are refused cleanly.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	cors(w)
	if s.lookup(r) == nil {
		http.Error(w, "no such publisher session", http.StatusNotFound)
		return
	}
	w.Header().Set("Allow", "DELETE, OPTIONS")
	http.Error(w, "trickle ICE is not supported: send all candidates in the offer", http.StatusMethodNotAllowed)
}

var errBadOffer = errors.New("bad offer")

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newPublisher answers the offer and makes the publisher its stream's
// source. The answer carries all of the server's candidates.
func (s *Server) newPublisher(ctx context.Context, name, offer string, tracks stream.Tracks) (*publisher, string, error) {
	pc, err := s.p.API.NewIngestPC()
	if err != nil {
		return nil, "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		_ = pc.Close()
		return nil, "", fmt.Errorf("%w: %v", errBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		_ = pc.Close()
		return nil, "", fmt.Errorf("%w: %v", errBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		_ = pc.Close()
		return nil, "", ctx.Err()
	}
	p := &publisher{s: s, id: newID(), name: name, pc: pc, connected: make(chan struct{}), done: make(chan struct{})}
	in, err := s.p.Sink.Publish(name, tracks, p)
	if err != nil {
		_ = pc.Close()
		return nil, "", err
	}
	p.in = in
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		in.End()
		_ = pc.Close()
		return nil, "", errors.New("shutting down")
	}
	s.pubs[p.id] = p
	s.wg.Add(1)
	s.mu.Unlock()
	s.m.publishers.Inc()
	p.start()
	return p, pc.LocalDescription().SDP, nil
}
