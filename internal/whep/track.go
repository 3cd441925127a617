package whep

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// localTrack is a session's video or audio sender: one binding to one
// peer connection, written without pion's static track's copy and lock per
// packet, and, for video, able to send retransmissions as RTX (RFC 4588)
// on their own SSRC when the player negotiated it.
type localTrack struct {
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

	rtxMu  sync.Mutex
	rtxSeq uint16
	rtxBuf []byte
}

func newLocalTrack(kind webrtc.RTPCodecType, c webrtc.RTPCodecCapability, id, streamID string) *localTrack {
	return &localTrack{kind: kind, codec: c, id: id, sid: streamID}
}

// Bind picks the negotiated codec of the track's type and its RTX
// companion.
func (t *localTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
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
func (t *localTrack) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bound, t.w = false, nil
	return nil
}

func (t *localTrack) ID() string                { return t.id }
func (t *localTrack) RID() string               { return "" }
func (t *localTrack) StreamID() string          { return t.sid }
func (t *localTrack) Kind() webrtc.RTPCodecType { return t.kind }

// WriteRTP sends p with the binding's SSRC and payload type (it changes p).
// Before the track is bound it does nothing.
func (t *localTrack) WriteRTP(p *rtp.Packet) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !t.bound {
		return nil
	}
	p.SSRC, p.PayloadType = t.ssrc, t.pt
	_, err := t.w.WriteRTP(&p.Header, p.Payload)
	return err
}

// hasRTX reports whether retransmissions go on an RTX stream.
func (t *localTrack) hasRTX() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.bound && t.rtx != 0
}

// WriteRTX retransmits p: as an RTX packet (its own SSRC and sequence
// numbers, the original sequence number ahead of the payload) when RTX was
// negotiated, else as p again.
func (t *localTrack) WriteRTX(p *rtp.Packet) error {
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
	_, err := t.w.WriteRTP(&h, t.rtxBuf)
	return err
}
