package stream

import (
	"time"

	"github.com/pion/rtp"
)

// Rebaser maps the sequence numbers and timestamps of a source that may
// restart (new session, new SSRC, new random bases) onto one continuous
// output sequence, so a receiver never sees a jump. Not safe for concurrent use.
type Rebaser struct {
	ClockRate uint32

	started   bool
	session   bool
	ssrc      uint32
	seqOffset uint16
	tsOffset  uint32
	lastSeq   uint16
	lastTS    uint32
	lastAt    time.Time
}

// Reset makes the next packet start a new mapping (the source changed).
func (r *Rebaser) Reset() { r.session = false }

// Map rewrites h in place. now is the packet's arrival time: after a
// restart, timestamps advance by the wall-clock time the source was away.
func (r *Rebaser) Map(h *rtp.Header, now time.Time) {
	if r.session && h.SSRC != r.ssrc {
		r.session = false
	}
	if !r.session {
		r.session = true
		r.ssrc = h.SSRC
		if !r.started {
			r.started = true
			r.seqOffset, r.tsOffset = 0, 0
		} else {
			gap := uint32(1)
			if el := now.Sub(r.lastAt); el > 0 && r.ClockRate > 0 {
				gap = max(uint32(el.Seconds()*float64(r.ClockRate)), 1)
			}
			r.seqOffset = r.lastSeq + 1 - h.SequenceNumber
			r.tsOffset = r.lastTS + gap - h.Timestamp
		}
	}
	h.SequenceNumber += r.seqOffset
	h.Timestamp += r.tsOffset
	r.lastSeq, r.lastTS, r.lastAt = h.SequenceNumber, h.Timestamp, now
}
