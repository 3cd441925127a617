package peer

import (
	"log/slog"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livedrop/livedrop/internal/srtpdirect"
)

// Packet is one RTP packet of a run written on a session's tracks
// (Senders.WriteRun).
type Packet struct {
	Header  rtp.Header // WriteRun sets its SSRC and payload type
	Payload []byte
	Audio   bool // on the audio track, else on the video track
	// At is the packet's media time (stream.Packet.At): the track's sender
	// reports map RTP time to it, so the player keeps the source's sync.
	// Zero: the time it was sent.
	At time.Time
	// Sent is set by WriteRun: the packet left, or its track was not bound
	// yet and dropped it, as Track.WriteRTP does.
	Sent bool
}

// Senders are a viewer session's local tracks: video, and audio when the
// session plays it (else nil). One goroutine at a time writes runs to them
// (WriteRun); others may send single packets on the tracks (WriteRTX) and
// read their reports.
type Senders struct {
	Video, Audio *Track

	wire []srtpdirect.Packet // WriteRun's scratch for the direct path
}

// WriteRun writes a session's run of packets, each on its track, and sets
// what left: in one run when both tracks are on the same direct path,
// else one by one (through pion, or a track not bound yet, which drops
// them as WriteRTP does).
func (s *Senders) WriteRun(run []Packet) {
	v, a := s.Video, s.Audio
	v.mu.RLock()
	defer v.mu.RUnlock()
	if a != nil {
		a.mu.RLock()
		defer a.mu.RUnlock()
	}
	d := v.direct
	for i := range run {
		p := &run[i]
		t := v
		if p.Audio {
			t = a
		}
		if !t.bound || t.direct != d {
			d = nil
		}
		p.Header.SSRC, p.Header.PayloadType = t.ssrc, t.pt
	}
	if d != nil {
		wire := s.wire[:0]
		for i := range run {
			wire = append(wire, srtpdirect.Packet{Header: &run[i].Header, Payload: run[i].Payload})
		}
		sent, _ := d.WriteRun(wire) // an error is a closed socket
		for i := range sent {
			run[i].Sent = true
		}
		clear(wire)
		s.wire = wire[:0]
	} else {
		for i := range run {
			p := &run[i]
			t := v
			if p.Audio {
				t = a
			}
			p.Sent = !t.bound || t.send(&p.Header, p.Payload) == nil
		}
	}
	now := time.Now()
	v.account(run, false, now)
	if a != nil {
		a.account(run, true, now)
	}
}

// setDirect sends the tracks' packets on d (nil: through pion).
func (s *Senders) setDirect(d *srtpdirect.Path) {
	s.Video.setDirect(d)
	if s.Audio != nil {
		s.Audio.setDirect(d)
	}
}

// UseDirect moves the media of s to the direct path (srtpdirect) when
// snd's ICE pair runs over one of the API's UDP media sockets and keys
// holds the session's handshake, and reports whether it did; otherwise
// pion keeps sending it. A later change of the pair follows the new
// address, or falls back to pion. What goes wrong is logged on log.
func (a *API) UseDirect(s *Senders, snd *webrtc.RTPSender, keys *srtpdirect.KeyCapture, log *slog.Logger) bool {
	t := snd.Transport()
	if t == nil || len(a.socks) == 0 {
		return false
	}
	it := t.ICETransport()
	pair, err := it.GetSelectedCandidatePair()
	if err != nil {
		return false
	}
	sock, dst, ok := directRoute(pair, a.socks)
	if !ok {
		return false
	}
	d, err := srtpdirect.NewPath(keys, sock, dst)
	if err != nil {
		log.Warn("session media through pion: SRTP keys not derived", "err", err)
		return false
	}
	it.OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		if newSock, newDst, ok := directRoute(p, a.socks); ok {
			d.SetRoute(newSock, newDst)
			return
		}
		// pion's SRTP context starts this SSRC's rollover counter at
		// zero: after a sequence number wrap the player cannot open
		// what it sends. A pair leaving the UDP port mid-session (an
		// ICE restart onto TCP or a relay) is rare; it is logged.
		log.Warn("session media back through pion: ICE pair left the UDP port")
		s.setDirect(nil)
	})
	s.setDirect(d)
	return true
}

// OverTCP reports whether the sender's selected ICE pair is TCP.
func OverTCP(snd *webrtc.RTPSender) bool {
	t := snd.Transport()
	if t == nil {
		return false
	}
	pair, err := t.ICETransport().GetSelectedCandidatePair()
	return err == nil && pair != nil && pair.Local.Protocol == webrtc.ICEProtocolTCP
}

// account adds the track's packets of run that left to its sender report
// counts; under t.mu.
func (t *Track) account(run []Packet, audio bool, now time.Time) {
	if !t.bound {
		return
	}
	t.srMu.Lock()
	defer t.srMu.Unlock()
	for i := range run {
		p := &run[i]
		if p.Audio != audio || !p.Sent {
			continue
		}
		t.srPkts++
		t.srBytes += uint32(len(p.Payload))
		if t.srAt.IsZero() || int32(p.Header.Timestamp-t.srTS) > 0 {
			at := p.At
			if at.IsZero() {
				at = now
			}
			t.srTS, t.srAt = p.Header.Timestamp, at
		}
	}
}
