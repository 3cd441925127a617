package peer

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livedrop/livedrop/internal/media"
	"github.com/livedrop/livedrop/internal/srtpdirect"
	"github.com/livedrop/livedrop/internal/stream"
)

// TrackCapability is how a track of a stream with codec c is offered to
// pion.
func TrackCapability(c *stream.Codec) webrtc.RTPCodecCapability {
	cc := webrtc.RTPCodecCapability{MimeType: c.MimeType, ClockRate: c.ClockRate, SDPFmtpLine: c.SDPFmtpLine}
	if strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus) {
		cc.Channels = media.OpusChannels // WebRTC always signals opus/48000/2
	}
	return cc
}

// Track is a session's video or audio sender (a pion TrackLocal): one
// binding to one peer connection, written without pion's static track's
// copy and lock per packet, and, for video, able to send retransmissions
// as RTX (RFC 4588) on their own SSRC when the player negotiated it.
type Track struct {
	codec webrtc.RTPCodecCapability
	kind  webrtc.RTPCodecType
	id    string
	sid   string

	mu    sync.RWMutex
	bound bool
	ssrc  uint32
	pt    uint8
	rtx   uint32 // RTX SSRC, 0 when not negotiated
	rtxPT uint8
	w     webrtc.TrackLocalWriter

	// direct, when set, protects and sends the track's packets itself
	// (srtpdirect); under mu.
	direct *srtpdirect.Path

	rtxMu  sync.Mutex
	rtxSeq uint16
	rtxBuf []byte

	// what was sent, for sender reports
	srMu    sync.Mutex
	srPkts  uint32
	srBytes uint32
	srTS    uint32
	srAt    time.Time
}

// NewTrack returns a track of kind sending codec c, with the given track
// and stream ids.
func NewTrack(kind webrtc.RTPCodecType, c webrtc.RTPCodecCapability, id, streamID string) *Track {
	return &Track{kind: kind, codec: c, id: id, sid: streamID}
}

// Bind picks the negotiated codec of the track's type and its RTX
// companion.
func (t *Track) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	for _, c := range codecs {
		if !strings.EqualFold(c.MimeType, t.codec.MimeType) {
			continue
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		t.bound, t.ssrc, t.pt, t.w = true, uint32(ctx.SSRC()), uint8(c.PayloadType), ctx.WriteStream()
		apt := fmt.Sprintf("apt=%d", c.PayloadType)
		for _, r := range codecs {
			if strings.EqualFold(r.MimeType, webrtc.MimeTypeRTX) && r.SDPFmtpLine == apt && ctx.SSRCRetransmission() != 0 {
				t.rtx, t.rtxPT = uint32(ctx.SSRCRetransmission()), uint8(r.PayloadType)
			}
		}
		return c, nil
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind detaches the track.
func (t *Track) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bound, t.w, t.direct = false, nil, nil
	return nil
}

// setDirect sends the track's packets on d (nil: through pion).
func (t *Track) setDirect(d *srtpdirect.Path) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bound {
		t.direct = d
	}
}

// send writes one packet with the binding's write path; under t.mu.
func (t *Track) send(h *rtp.Header, payload []byte) error {
	if t.direct != nil {
		return t.direct.WriteRTP(h, payload)
	}
	_, err := t.w.WriteRTP(h, payload)
	return err
}

// ID, RID, StreamID and Kind describe the track to pion.
func (t *Track) ID() string                { return t.id }
func (t *Track) RID() string               { return "" }
func (t *Track) StreamID() string          { return t.sid }
func (t *Track) Kind() webrtc.RTPCodecType { return t.kind }

// WriteRTP sends p with the binding's SSRC and payload type (it changes p).
// Before the track is bound it does nothing.
func (t *Track) WriteRTP(p *rtp.Packet) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !t.bound {
		return nil
	}
	p.SSRC, p.PayloadType = t.ssrc, t.pt
	if err := t.send(&p.Header, p.Payload); err != nil {
		return err
	}
	t.srMu.Lock()
	t.srPkts++
	t.srBytes += uint32(len(p.Payload))
	if t.srAt.IsZero() || int32(p.Timestamp-t.srTS) > 0 {
		t.srTS, t.srAt = p.Timestamp, time.Now()
	}
	t.srMu.Unlock()
	return nil
}

// SenderReport describes what the track sent, as of now: the RTP clock
// is carried forward from the newest timestamp sent and its media time
// (Packet.At), or the time it was sent. ok is false before anything was
// sent.
func (t *Track) SenderReport(now time.Time) (sr rtcp.SenderReport, ok bool) {
	t.mu.RLock()
	ssrc, bound := t.ssrc, t.bound
	t.mu.RUnlock()
	t.srMu.Lock()
	defer t.srMu.Unlock()
	if !bound || t.srAt.IsZero() {
		return sr, false
	}
	elapsed := now.Sub(t.srAt)
	return rtcp.SenderReport{
		SSRC:        ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     t.srTS + uint32(int64(elapsed.Seconds()*float64(t.codec.ClockRate))),
		PacketCount: t.srPkts,
		OctetCount:  t.srBytes,
	}, true
}

// ntpTime is t in NTP's 32.32 fixed point.
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix()) + 2208988800
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// hasRTX reports whether retransmissions go on an RTX stream.
func (t *Track) hasRTX() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.bound && t.rtx != 0
}

// WriteRTX retransmits p: as an RTX packet (its own SSRC and sequence
// numbers, the original sequence number ahead of the payload) when RTX was
// negotiated, else as p again.
func (t *Track) WriteRTX(p *rtp.Packet) error {
	if !t.hasRTX() {
		return t.WriteRTP(p)
	}
	t.rtxMu.Lock()
	defer t.rtxMu.Unlock()
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !t.bound {
		return nil
	}
	t.rtxBuf = binary.BigEndian.AppendUint16(t.rtxBuf[:0], p.SequenceNumber)
	t.rtxBuf = append(t.rtxBuf, p.Payload...)
	h := p.Header
	h.SSRC, h.PayloadType, h.SequenceNumber = t.rtx, t.rtxPT, t.rtxSeq
	t.rtxSeq++
	return t.send(&h, t.rtxBuf)
}
