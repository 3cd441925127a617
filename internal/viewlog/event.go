// Package viewlog keeps viewer sessions' joins and leaves, with the
// channel each viewer came from and the region of the edge serving them:
// an edge's book queues them for upstream, the origin's keeps them per
// stream for the event report (internal/kpi). It knows no protocol.
package viewlog

import (
	"time"

	"github.com/livedrop/livedrop/internal/kpi"
)

// Event is one viewer session joining (J) or leaving, as it travels
// upstream (whep.AudienceReport's views).
type Event struct {
	Session string `json:"s"`
	Viewer  string `json:"v"`
	Channel string `json:"ch"`
	Region  string `json:"re,omitempty"`
	Join    bool   `json:"j,omitempty"`
	AtMS    int64  `json:"at"` // Unix milliseconds, the serving edge's clock
}

// MaxIDLen bounds a session or viewer id, and a region.
const MaxIDLen = 64

// ValidID reports whether s is 1-64 of [A-Za-z0-9_-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Valid reports whether e can be believed: ids of the right shape, a
// known channel token, a time.
func (e Event) Valid() bool {
	return ValidID(e.Session) && ValidID(e.Viewer) && kpi.Channel(e.Channel) == e.Channel &&
		(e.Region == "" || ValidID(e.Region)) && e.AtMS > 0
}

// At is the event's time.
func (e Event) At() time.Time { return time.UnixMilli(e.AtMS).UTC() }

// View is the event as internal/kpi reads it.
func (e Event) View() kpi.View {
	return kpi.View{Viewer: e.Viewer, Session: e.Session, Channel: e.Channel, Region: e.Region, Join: e.Join, At: e.At()}
}
