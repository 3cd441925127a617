package stream

// DefaultGOPMax bounds the packets a stream keeps for new readers: a 4 s
// GOP of a 2.5 Mbps stream fits; a longer one is not kept (new readers then
// wait for the next keyframe).
const DefaultGOPMax = 1500

// historySize is how many recent video packets answer NACKs (a power of 2):
// about 3 s of a 1.5 Mbps stream.
const historySize = 1024

type history struct {
	ring [historySize]*Packet
}

// keep records a video packet in the GOP and the NACK history.
func (s *Stream) keep(p *Packet) {
	s.gopMu.Lock()
	defer s.gopMu.Unlock()
	s.hist.ring[p.Header.SequenceNumber%historySize] = p
	switch {
	case p.Keyframe && len(s.gop) > 0 && s.gop[0].Header.Timestamp == p.Header.Timestamp:
		// Another start of the same access unit (SPS/PPS then IDR).
		s.gop = append(s.gop, p)
	case p.Keyframe:
		clear(s.gop)
		s.gop = append(s.gop[:0], p)
	case len(s.gop) == 0:
		// No keyframe seen yet (or the GOP outgrew gopMax): nothing to keep.
	case len(s.gop) >= s.gopMax:
		clear(s.gop)
		s.gop = s.gop[:0]
	default:
		s.gop = append(s.gop, p)
	}
}

// GOP appends the video packets since the last keyframe to dst, in order,
// starting with the keyframe. It returns dst unchanged when none is kept.
func (s *Stream) GOP(dst []*Packet) []*Packet {
	s.gopMu.Lock()
	defer s.gopMu.Unlock()
	return append(dst, s.gop...)
}

// Recent returns the video packet with sequence number seq if it is still
// in the history, for retransmission.
func (s *Stream) Recent(seq uint16) *Packet {
	s.gopMu.Lock()
	defer s.gopMu.Unlock()
	p := s.hist.ring[seq%historySize]
	if p == nil || p.Header.SequenceNumber != seq {
		return nil
	}
	return p
}
