package whep

import (
	"errors"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// SessionInfo is what the server knows of a viewer session's media, for
// those who ask whether a viewer is really watching (watch proofs).
type SessionInfo struct {
	Stream    string
	Connected bool // ICE and DTLS are up
	// Receiving is when the current unbroken run of the player's receiver
	// reports began: the player says it receives the stream's packets
	// (zero: no report yet). LastReport is the latest of them.
	Receiving  time.Time
	LastReport time.Time
	// Owner is who claimed the session ("": nobody yet).
	Owner string
}

// reportGap breaks a run of receiver reports: players send one about every
// second while they receive; a longer silence (a source gone for a while)
// starts the run again.
const reportGap = 15 * time.Second

// Session claim failures.
var (
	ErrNoSession = errors.New("no such viewer session on this node")
	ErrClaimed   = errors.New("viewer session claimed by someone else")
)

// viewerState is a session's receiver reports and claim; its own lock,
// taken by the RTCP readers and by those who ask.
type viewerState struct {
	mu       sync.Mutex
	runStart time.Time
	last     time.Time
	owner    string
	reports  int // every receiver report read (tests wait on it)
	// highest is the extended highest sequence number each SSRC's report
	// block gave, so that only reports of new packets count.
	highest [4]struct{ ssrc, seq uint32 }
}

// report notes a receiver report from the player: when one of its blocks
// says a packet arrived since the last report (its highest sequence number
// moved), the player is receiving.
func (ss *session) report(rr *rtcp.ReceiverReport) {
	now := ss.srv.p.Now()
	v := &ss.viewer
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reports++
	if !v.advanced(rr.Reports) {
		return
	}
	if v.last.IsZero() || now.Sub(v.last) > reportGap {
		v.runStart = now
	}
	v.last = now
}

func (v *viewerState) advanced(blocks []rtcp.ReceptionReport) bool {
	moved := false
	for _, b := range blocks {
		i := 0
		for ; i < len(v.highest); i++ {
			h := &v.highest[i]
			if h.ssrc == b.SSRC && h.seq != 0 {
				if b.LastSequenceNumber > h.seq {
					h.seq, moved = b.LastSequenceNumber, true
				}
				break
			}
			if h.seq == 0 { // a free slot: the first report of this SSRC
				h.ssrc, h.seq, moved = b.SSRC, max(b.LastSequenceNumber, 1), true
				break
			}
		}
	}
	return moved
}

func (ss *session) info() SessionInfo {
	v := &ss.viewer
	v.mu.Lock()
	defer v.mu.Unlock()
	return SessionInfo{Stream: ss.stream.Name(), Connected: ss.connected.Load(),
		Receiving: v.runStart, LastReport: v.last, Owner: v.owner}
}

// Session reports on the viewer session id, if this node serves it.
func (s *Server) Session(id string) (SessionInfo, bool) {
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil {
		return SessionInfo{}, false
	}
	return ss.info(), true
}

// Claim binds session id to owner, once: a later claim by the same owner
// reports on it, by anyone else fails with ErrClaimed. One media session
// then vouches for one viewer.
func (s *Server) Claim(id, owner string) (SessionInfo, error) {
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil {
		return SessionInfo{}, ErrNoSession
	}
	ss.viewer.mu.Lock()
	if ss.viewer.owner == "" {
		ss.viewer.owner = owner
	}
	mine := ss.viewer.owner == owner
	ss.viewer.mu.Unlock()
	if !mine {
		return SessionInfo{}, ErrClaimed
	}
	return ss.info(), nil
}
