package overlayhttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/internal/media"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/overlay"
)

// OriginServiceParams builds an OriginService.
type OriginServiceParams struct {
	Hub *overlay.OriginHub
	// ControlToken is the bearer token of the overlay routes: the checkout
	// control token (checkout.Control.ControlToken).
	ControlToken string
	// Guard is the budget wrong tokens cost (the process's, shared with
	// the checkout control API); nil: one of the service's own.
	Guard *guard.Guard
	// Registerer takes the events socket's metrics.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// OriginService runs the origin's overlay hub with its routes:
//
//	POST   /v1/streams/{stream}/overlays       show (bearer token)
//	DELETE /v1/streams/{stream}/overlays/{id}  hide (bearer token)
//	GET    /v1/streams/{stream}/overlays       list (bearer token)
//	GET    /v1/streams/{stream}/events         events WebSocket (seller console)
//
// It is an httpnode.Service.
type OriginService struct {
	hub    *overlay.OriginHub
	token  []byte
	guard  *guard.Guard
	events *events
	logger *slog.Logger
}

// NewOriginService adapts hub to HTTP.
func NewOriginService(p OriginServiceParams) (*OriginService, error) {
	if p.Hub == nil {
		return nil, errors.New("overlay http: origin service needs a hub")
	}
	if p.Registerer == nil {
		return nil, errors.New("overlay http: origin service needs a Registerer")
	}
	if len(p.ControlToken) < 16 {
		return nil, errors.New("overlay http: control token must be at least 16 characters")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	log := p.Logger.With("component", "overlay-http")
	if p.Guard == nil {
		var err error
		if p.Guard, err = guard.New(guard.Params{Config: guard.Defaults(), Logger: p.Logger}); err != nil {
			return nil, err
		}
	}
	ev, err := newEvents(p.Hub, p.Hub.Config().WebSocket, p.Registerer, log)
	if err != nil {
		return nil, err
	}
	return &OriginService{hub: p.Hub, token: []byte(p.ControlToken), guard: p.Guard, logger: log, events: ev}, nil
}

// Hub returns the service's hub (the origin's whep EventFeed).
func (s *OriginService) Hub() *overlay.OriginHub { return s.hub }

// Register adds the overlay routes and the events WebSocket.
func (s *OriginService) Register(mux *http.ServeMux) {
	mux.Handle("POST /v1/streams/{stream}/overlays", s.auth(s.show))
	mux.Handle("GET /v1/streams/{stream}/overlays", s.auth(s.list))
	mux.Handle("DELETE /v1/streams/{stream}/overlays/{id}", s.auth(s.hide))
	mux.HandleFunc("GET /v1/streams/{stream}/events", s.events.serve)
}

// Run runs the hub and owns the event sockets until ctx ends.
func (s *OriginService) Run(ctx context.Context) error { return runBoth(ctx, s.hub.Run, s.events) }

func (s *OriginService) auth(next http.HandlerFunc) http.Handler {
	return jsonhttp.GuardedBearer(s.token, s.guard, next)
}

func (s *OriginService) show(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes+1)
	req, err := DecodeRequest(r.Body)
	if err != nil {
		writeError(w, s.logger, err)
		return
	}
	stream := r.PathValue("stream")
	o, err := s.hub.Show(r.Context(), stream, req)
	if err != nil {
		writeError(w, s.logger, err)
		return
	}
	w.Header().Set("Location", "/v1/streams/"+stream+"/overlays/"+o.ID)
	writeJSON(w, http.StatusCreated, o)
}

func (s *OriginService) hide(w http.ResponseWriter, r *http.Request) {
	stream, id := r.PathValue("stream"), r.PathValue("id")
	if !media.ValidName(stream) || !overlay.ValidOverlayID(id) {
		writeJSON(w, http.StatusBadRequest, jsonhttp.ErrorBody{Error: "stream and id must be 1-64 of [A-Za-z0-9_-]"})
		return
	}
	if err := s.hub.Hide(stream, id); err != nil {
		writeError(w, s.logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listBody is the answer of GET /v1/streams/{stream}/overlays.
type listBody struct {
	Stream   string            `json:"stream"`
	Overlays []overlay.Overlay `json:"overlays"`
}

func (s *OriginService) list(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if !media.ValidName(stream) {
		writeJSON(w, http.StatusBadRequest, jsonhttp.ErrorBody{Error: "stream must be 1-64 of [A-Za-z0-9_-]"})
		return
	}
	writeJSON(w, http.StatusOK, listBody{Stream: stream, Overlays: s.hub.List(stream)})
}

// EdgeServiceParams builds an EdgeService.
type EdgeServiceParams struct {
	Hub *overlay.EdgeHub
	// Registerer takes the events socket's metrics.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// EdgeService runs an edge's overlay hub with the viewers' events
// WebSocket, GET /v1/streams/{stream}/events. It is an httpnode.Service.
type EdgeService struct {
	hub    *overlay.EdgeHub
	events *events
}

// NewEdgeService adapts hub to HTTP.
func NewEdgeService(p EdgeServiceParams) (*EdgeService, error) {
	if p.Hub == nil {
		return nil, errors.New("overlay http: edge service needs a hub")
	}
	if p.Registerer == nil {
		return nil, errors.New("overlay http: edge service needs a Registerer")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	log := p.Logger.With("component", "overlay-http")
	ev, err := newEvents(p.Hub, p.Hub.Config().WebSocket, p.Registerer, log)
	if err != nil {
		return nil, err
	}
	return &EdgeService{hub: p.Hub, events: ev}, nil
}

// Hub returns the service's hub (the edge's whep EventFeed and the
// upstream's OnEvent sink).
func (s *EdgeService) Hub() *overlay.EdgeHub { return s.hub }

// Register adds the events WebSocket.
func (s *EdgeService) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/streams/{stream}/events", s.events.serve)
}

// Run runs the hub and owns the event sockets until ctx ends.
func (s *EdgeService) Run(ctx context.Context) error { return runBoth(ctx, s.hub.Run, s.events) }

// runBoth runs a hub and the sockets; the sockets close first, then the hub
// closes its subscriptions.
func runBoth(ctx context.Context, hub func(context.Context) error, ev *events) error {
	var wg sync.WaitGroup
	wg.Go(func() { ev.run(ctx) })
	err := hub(ctx)
	wg.Wait()
	return err
}

// statusOf maps an error to its status code: the one place that does.
func statusOf(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, jsonhttp.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, overlay.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, overlay.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, overlay.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, overlay.ErrUnavailable), errors.Is(err, overlay.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, logger *slog.Logger, err error) {
	jsonhttp.Error(w, logger, statusOf(err), err)
}

func writeJSON(w http.ResponseWriter, code int, v any) { jsonhttp.Write(w, code, v) }
