package whep

import (
	"context"
	"time"

	"github.com/pion/webrtc/v4"
)

// mover is a draining server's state: players are told to move elsewhere
// and new offers are refused. Guarded by Server.mu.
type mover struct {
	moving bool
	// left is signalled (without blocking) each time a session ends while
	// moving, for Move's wait.
	left chan struct{}
}

// Move drains the server's players: from now on it refuses new offers (503
// with Retry-After), sends every player session notice(i) on its events
// data channel (node sessions are not told: an edge pulling from this node
// fails over on its own), and waits until they have ended their sessions
// or ctx ends. It returns how many players were told and how many had left
// when it returned. A player without an events channel is not told.
func (s *Server) Move(ctx context.Context, notice func(i int) []byte) (told, left int) {
	s.mu.Lock()
	if s.move.left == nil {
		s.move.left = make(chan struct{}, 1)
	}
	s.move.moving = true
	var players []*session
	for _, ss := range s.sessions {
		if !ss.node {
			players = append(players, ss)
		}
	}
	s.mu.Unlock()
	var waiting []*session
	for _, ss := range players {
		dc := ss.events.Load()
		if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
			continue
		}
		if err := dc.SendText(string(notice(told))); err != nil {
			continue
		}
		told++
		waiting = append(waiting, ss)
	}
	s.log.Info("players told to move", "players", len(players), "told", told)
	for {
		left = 0
		for _, ss := range waiting {
			select {
			case <-ss.done:
				left++
			default:
			}
		}
		if left == len(waiting) {
			return told, left
		}
		select {
		case <-ctx.Done():
			return told, left
		case <-s.move.left:
		}
	}
}

// moving reports whether Move has begun; offers are then refused.
func (s *Server) moving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.move.moving
}

// noteLeft wakes Move's wait after a session ended. Called with s.mu held.
func (s *Server) noteLeft() {
	if s.move.left == nil {
		return
	}
	select {
	case s.move.left <- struct{}{}:
	default:
	}
}

// drainRetryAfter is what a refused offer of a draining server is told to
// wait before offering again (to another node, behind a load balancer).
const drainRetryAfter = time.Second
