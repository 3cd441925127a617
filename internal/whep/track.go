package whep

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// videoTrack is a session's video sender: one binding to one peer
// connection, written without pion's static track's copy and lock per
// packet, and able to send retransmissions as RTX (RFC 4588) on their own
// SSRC when the player negotiated it.
type videoTrack struct {
	codec webrtc.RTPCodecCapability
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

func newVideoTrack(c webrtc.RTPCodecCapability, id, streamID string) *videoTrack {
	return &videoTrack{codec: c, id: id, sid: streamID}
}

// Bind picks the negotiated H.264 codec and its RTX companion.
func (t *videoTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
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
func (t *videoTrack) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bound, t.w = false, nil
	return nil
}

func (t *videoTrack) ID() string                { return t.id }
func (t *videoTrack) RID() string               { return "" }
func (t *videoTrack) StreamID() string          { return t.sid }
func (t *videoTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeVideo }

// WriteRTP sends p with the binding's SSRC and payload type (it changes p).
// Before the track is bound it does nothing.
func (t *videoTrack) WriteRTP(p *rtp.Packet) error {
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
func (t *videoTrack) hasRTX() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.bound && t.rtx != 0
}

// WriteRTX retransmits p: as an RTX packet (its own SSRC and sequence
// numbers, the original sequence number ahead of the payload) when RTX was
// negotiated, else as p again.
func (t *videoTrack) WriteRTX(p *rtp.Packet) error {
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
