package whep

import (
	"encoding/json"
	"sync/atomic"

	"github.com/livedrop/livedrop/internal/viewlog"
)

// How many watch a stream, across a tree of edges: each edge tells its
// upstream, on the events data channel of its pull, how many viewers its
// own sessions add up to (AudienceReport); a node adds its sessions up
// (Audience), each session counting as one viewer unless it is a node's
// (IsNode) that reported, which counts as its report. The origin, at the
// root, so knows every edge's viewers of a stream.

// AudienceReport is what an edge sends upstream on the events channel.
type AudienceReport struct {
	Viewers int `json:"viewers"`
	// Views are joins and leaves of viewer sessions since the last
	// report (views.go), at most MaxReportViews.
	Views []viewlog.Event `json:"views,omitempty"`
}

// maxAudience bounds a report: anything larger is not believed.
const maxAudience = 10_000_000

// audience is a session's share of its stream's audience: -1 until a node
// reports one.
type audience struct{ n atomic.Int64 }

func (a *audience) init() { a.n.Store(-1) }

// take reads a message a node sent upstream; anything else is ignored.
func (a *audience) take(msg []byte) {
	var r struct {
		Viewers *int `json:"viewers"`
	}
	if json.Unmarshal(msg, &r) != nil || r.Viewers == nil || *r.Viewers < 0 || *r.Viewers > maxAudience {
		return
	}
	a.n.Store(int64(*r.Viewers))
}

func (a *audience) count() int {
	if n := a.n.Load(); n >= 0 {
		return int(n)
	}
	return 1 // a player, or an edge that has not said yet (it pulls for a viewer)
}

// Audience returns how many watch the named stream through this node: its
// sessions' viewers, with the edges' reports for theirs.
func (s *Server) Audience(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ss := range s.sessions {
		if ss.stream.Name() == name {
			n += ss.audience.count()
		}
	}
	return n
}
