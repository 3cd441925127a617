// Package avc prepares H.264 RTP payloads (RFC 6184, packetization mode 1)
// for WebRTC without decoding the picture: it keeps every payload under a
// size limit, sends SPS and PPS before every IDR, marks where decoding can
// start, drops access unit delimiters, and notices B-frames.
package avc

import (
	"errors"
	"fmt"
)

// NAL unit types used here.
const (
	TypeSlice = 1
	TypeIDR   = 5
	TypeSEI   = 6
	TypeSPS   = 7
	TypePPS   = 8
	TypeAUD   = 9
	TypeSTAPA = 24
	TypeFUA   = 28
)

// DefaultMaxPayload keeps an SRTP packet with its headers well under a
// 1500-byte MTU (FIELD-NOTES: ffmpeg's 1472-byte packets get fragmented).
const DefaultMaxPayload = 1200

// Errors for malformed payloads.
var (
	ErrEmpty       = errors.New("empty H.264 payload")
	ErrUnsupported = errors.New("unsupported H.264 packetization")
	ErrTruncated   = errors.New("truncated H.264 payload")
)

// Out is one payload to send.
type Out struct {
	Payload  []byte
	Marker   bool
	Keyframe bool // decoding can start here
}

// Normalizer rewrites one H.264 RTP stream. It is not safe for concurrent use.
type Normalizer struct {
	// MaxPayload bounds every payload it emits (DefaultMaxPayload when 0).
	MaxPayload int

	sps, pps []byte

	paramsTS   uint32 // timestamp of the access unit whose parameters were sent
	paramsSent bool
	keyTS      uint32 // timestamp of the access unit already marked keyframe
	keyMarked  bool
	bframes    bool

	fu fuState // an oversized FU-A NAL unit being cut again
}

// fuState carries an FU-A NAL unit whose source fragments are larger than
// MaxPayload across Push calls. It is cut again, at its end, into pieces
// that differ by a byte at most (see pieces): cutting each source fragment
// on its own would give pairs like 1200+272 bytes (ffmpeg sends 1472),
// more packets, and sizes the sender cannot join into one GSO datagram.
type fuState struct {
	active    bool
	ts        uint32
	indicator byte // FU indicator (F, NRI, type 28)
	typ       byte // the NAL unit type inside
	first     bool // the next piece is the NAL unit's first
	key       bool
	buf       []byte // body bytes not sent yet (at most one piece)
	skip      bool   // drop fragments until the next start (after a loss)
}

// SetParams sets the SPS and PPS to send before IDRs (from the SDP).
func (n *Normalizer) SetParams(sps, pps []byte) {
	if len(sps) > 0 {
		n.sps = append([]byte(nil), sps...)
	}
	if len(pps) > 0 {
		n.pps = append([]byte(nil), pps...)
	}
}

// Params returns the SPS and PPS in use.
func (n *Normalizer) Params() (sps, pps []byte) { return n.sps, n.pps }

// BFrames reports whether a B slice has been seen.
func (n *Normalizer) BFrames() bool { return n.bframes }

func (n *Normalizer) max() int {
	if n.MaxPayload <= 0 {
		return DefaultMaxPayload
	}
	return n.MaxPayload
}

// Push processes one source payload with its RTP timestamp and marker and
// calls emit for each payload to send, in order. Emitted payloads may share
// memory with payload. On error nothing is emitted.
func (n *Normalizer) Push(payload []byte, ts uint32, marker bool, emit func(Out)) error {
	if len(payload) == 0 {
		return ErrEmpty
	}
	if n.paramsSent && ts != n.paramsTS {
		n.paramsSent = false
	}
	typ := payload[0] & 0x1f
	switch {
	case typ == TypeAUD && !marker:
		// An access unit delimiter tells nothing a WebRTC player uses (RTP
		// timestamps and the marker delimit frames), and sent alone it
		// cost every viewer a datagram per frame: the sender cannot join a
		// 2-byte packet with the frame's pieces.
		return nil
	case typ >= 1 && typ <= 23:
		n.observe(payload)
		n.single(payload, ts, marker, emit)
	case typ == TypeSTAPA:
		nalus, err := splitSTAPA(payload)
		if err != nil {
			return err
		}
		for _, nalu := range nalus {
			n.observe(nalu)
		}
		if n.needsParams(nalus, ts) {
			n.emitParams(ts, emit)
		}
		key := n.markKey(containsStart(nalus), ts)
		if len(payload) <= n.max() {
			emit(Out{Payload: payload, Marker: marker, Keyframe: key})
			return nil
		}
		for i, nalu := range nalus {
			n.fragment(nalu, marker && i == len(nalus)-1, key && i == 0, emit)
		}
	case typ == TypeFUA:
		if len(payload) < 3 {
			return ErrTruncated
		}
		start, end := payload[1]&0x80 != 0, payload[1]&0x40 != 0
		inner := payload[1] & 0x1f
		if n.fu.active {
			if !start && ts == n.fu.ts && payload[0] == n.fu.indicator && inner == n.fu.typ {
				n.fu.buf = append(n.fu.buf, payload[2:]...)
				n.cut(end, marker, emit)
				return nil
			}
			n.fu.active = false // its end was lost: drop what is left of it
		}
		if n.fu.skip && !start {
			return nil
		}
		n.fu.skip = false
		if start {
			hdr := []byte{payload[0]&0xe0 | inner}
			n.observeSlice(inner, payload[2:])
			if inner == TypeIDR && n.needsParams([][]byte{hdr}, ts) {
				n.emitParams(ts, emit)
			}
		}
		key := start && n.markKey(inner == TypeIDR || inner == TypeSPS, ts)
		if len(payload) <= n.max() {
			emit(Out{Payload: payload, Marker: marker, Keyframe: key})
			return nil
		}
		if start && !end {
			n.fu = fuState{active: true, ts: ts, indicator: payload[0], typ: inner, first: true, key: key,
				buf: append(n.fu.buf[:0], payload[2:]...)}
			n.cut(false, false, emit)
			return nil
		}
		n.refragment(payload, marker, key, emit)
	default:
		return fmt.Errorf("%w: NAL type %d", ErrUnsupported, typ)
	}
	return nil
}

func (n *Normalizer) single(nalu []byte, ts uint32, marker bool, emit func(Out)) {
	typ := nalu[0] & 0x1f
	if n.needsParams([][]byte{nalu}, ts) {
		n.emitParams(ts, emit)
	}
	key := n.markKey(typ == TypeIDR || typ == TypeSPS, ts)
	if len(nalu) <= n.max() {
		emit(Out{Payload: nalu, Marker: marker, Keyframe: key})
		return
	}
	n.fragment(nalu, marker, key, emit)
}

// markKey marks the first packet of a decodable access unit, once.
func (n *Normalizer) markKey(starts bool, ts uint32) bool {
	if !starts || (n.keyMarked && n.keyTS == ts) {
		return false
	}
	n.keyMarked, n.keyTS = true, ts
	return true
}

// needsParams reports whether an IDR is about to go out without SPS/PPS.
func (n *Normalizer) needsParams(nalus [][]byte, ts uint32) bool {
	hasIDR, hasSPS := false, false
	for _, nalu := range nalus {
		switch nalu[0] & 0x1f {
		case TypeIDR:
			hasIDR = true
		case TypeSPS:
			hasSPS = true
		}
	}
	if hasSPS {
		n.paramsSent, n.paramsTS = true, ts
		return false
	}
	return hasIDR && !(n.paramsSent && n.paramsTS == ts) && len(n.sps) > 0 && len(n.pps) > 0
}

func (n *Normalizer) emitParams(ts uint32, emit func(Out)) {
	n.paramsSent, n.paramsTS = true, ts
	key := n.markKey(true, ts)
	if 1+2+len(n.sps)+2+len(n.pps) > n.max() {
		// Too big for one STAP-A: each on its own, cut up when even that
		// is too big (a payload never exceeds MaxPayload).
		for i, p := range [][]byte{n.sps, n.pps} {
			if len(p) == 0 {
				continue
			}
			if len(p) <= n.max() {
				emit(Out{Payload: p, Keyframe: key && i == 0})
			} else {
				n.fragment(p, false, key && i == 0, emit)
			}
		}
		return
	}
	emit(Out{Payload: BuildSTAPA(n.sps, n.pps), Keyframe: key})
}

// observe learns parameter sets and slice types from a whole NAL unit.
func (n *Normalizer) observe(nalu []byte) {
	switch typ := nalu[0] & 0x1f; typ {
	case TypeSPS:
		if len(nalu) >= 4 && !bytesEqual(n.sps, nalu) {
			n.sps = append(n.sps[:0:0], nalu...)
		}
	case TypePPS:
		if len(nalu) >= 2 && !bytesEqual(n.pps, nalu) {
			n.pps = append(n.pps[:0:0], nalu...)
		}
	case TypeSlice, TypeIDR:
		n.observeSlice(typ, nalu[1:])
	}
}

func (n *Normalizer) observeSlice(typ byte, body []byte) {
	if typ != TypeSlice && typ != TypeIDR {
		return
	}
	if st, ok := SliceType(body); ok && st%5 == 1 {
		n.bframes = true
	}
}

// fragment splits one NAL unit into FU-A payloads.
func (n *Normalizer) fragment(nalu []byte, marker, key bool, emit func(Out)) {
	indicator := nalu[0]&0xe0 | TypeFUA
	typ := nalu[0] & 0x1f
	body := nalu[1:]
	k, size, longer := pieces(len(body), n.max()-2)
	for i := 0; i < k; i++ {
		size := size
		if i < longer {
			size++
		}
		first, last := i == 0, i == k-1
		hdr := typ
		if first {
			hdr |= 0x80
		}
		if last {
			hdr |= 0x40
		}
		p := make([]byte, 2+size)
		p[0], p[1] = indicator, hdr
		copy(p[2:], body[:size])
		emit(Out{Payload: p, Marker: marker && last, Keyframe: key && first})
		body = body[size:]
	}
}

// pieces tells how to cut n bytes into the fewest pieces of at most max:
// k pieces, of which the first `longer` are size+1 bytes and the rest size.
// Pieces of one NAL unit differ by a byte at most, so the sender can pad
// them to one size and join them, with the audio packet after them, into
// one GSO datagram (a shorter piece would end the datagram).
func pieces(n, max int) (k, size, longer int) {
	k = (n + max - 1) / max
	if k == 0 {
		return 0, 0, 0
	}
	return k, n / k, n % k
}

// fuHoldMax bounds the NAL unit body cut holds back: past it, whole
// MaxPayload pieces leave as they come (a source cannot make the
// normalizer keep an endless NAL unit).
const fuHoldMax = 1 << 20

// cut emits the carried FU-A body in equal pieces (see pieces) once the
// NAL unit's end has come; until then it keeps the body, at most
// fuHoldMax of it. The pieces leave together anyway: writers wait for a
// frame's last packet.
func (n *Normalizer) cut(end, marker bool, emit func(Out)) {
	f := &n.fu
	chunk := n.max() - 2
	if !end && len(f.buf) < fuHoldMax {
		return
	}
	body := f.buf
	k, size, longer := pieces(len(body), chunk)
	if !end {
		k, size, longer = len(body)/chunk, chunk, 0
	}
	for i := 0; i < k; i++ {
		size := size
		if i < longer {
			size++
		}
		last := end && i == k-1
		hdr := f.typ
		if f.first {
			hdr |= 0x80
		}
		if last {
			hdr |= 0x40
		}
		p := make([]byte, 2+size)
		p[0], p[1] = f.indicator, hdr
		copy(p[2:], body[:size])
		emit(Out{Payload: p, Marker: marker && last, Keyframe: f.key && f.first})
		f.first = false
		body = body[size:]
	}
	f.buf = f.buf[:copy(f.buf, body)]
	if end {
		f.active = false
	}
}

// Discontinuity tells the normalizer source packets were lost: an FU-A
// NAL unit being cut again is abandoned rather than sent with a hole.
func (n *Normalizer) Discontinuity() {
	if n.fu.active {
		n.fu.active, n.fu.skip = false, true
	}
}

// refragment splits an FU-A payload that is too large into smaller ones.
func (n *Normalizer) refragment(payload []byte, marker, key bool, emit func(Out)) {
	start, end := payload[1]&0x80 != 0, payload[1]&0x40 != 0
	typ := payload[1] & 0x1f
	body := payload[2:]
	chunk := n.max() - 2
	for first := true; len(body) > 0; first = false {
		size := min(chunk, len(body))
		last := size == len(body)
		hdr := typ
		if first && start {
			hdr |= 0x80
		}
		if last && end {
			hdr |= 0x40
		}
		p := make([]byte, 2+size)
		p[0], p[1] = payload[0], hdr
		copy(p[2:], body[:size])
		emit(Out{Payload: p, Marker: marker && last, Keyframe: key && first})
		body = body[size:]
	}
}

func containsStart(nalus [][]byte) bool {
	for _, nalu := range nalus {
		if t := nalu[0] & 0x1f; t == TypeIDR || t == TypeSPS {
			return true
		}
	}
	return false
}

func splitSTAPA(payload []byte) ([][]byte, error) {
	var out [][]byte
	b := payload[1:]
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, ErrTruncated
		}
		size := int(b[0])<<8 | int(b[1])
		b = b[2:]
		if size == 0 || size > len(b) {
			return nil, ErrTruncated
		}
		out = append(out, b[:size])
		b = b[size:]
	}
	if len(out) == 0 {
		return nil, ErrTruncated
	}
	return out, nil
}

// BuildSTAPA aggregates NAL units into one STAP-A payload.
func BuildSTAPA(nalus ...[]byte) []byte {
	size := 1
	var nri byte
	for _, n := range nalus {
		size += 2 + len(n)
		nri = max(nri, n[0]&0x60)
	}
	p := make([]byte, 0, size)
	p = append(p, nri|TypeSTAPA)
	for _, n := range nalus {
		p = append(p, byte(len(n)>>8), byte(len(n)))
		p = append(p, n...)
	}
	return p
}

// IsKeyframeStart reports whether an RTP payload starts a decodable access
// unit: an SPS or an IDR, alone, aggregated, or as a first fragment.
func IsKeyframeStart(payload []byte) bool {
	if len(payload) == 0 {
		return false
	}
	switch typ := payload[0] & 0x1f; typ {
	case TypeIDR, TypeSPS:
		return true
	case TypeSTAPA:
		nalus, err := splitSTAPA(payload)
		return err == nil && containsStart(nalus)
	case TypeFUA:
		if len(payload) < 2 || payload[1]&0x80 == 0 {
			return false
		}
		t := payload[1] & 0x1f
		return t == TypeIDR || t == TypeSPS
	}
	return false
}

// SliceType reads slice_type from the start of a slice header (after the
// NAL header byte): first_mb_in_slice and slice_type, both ue(v).
func SliceType(body []byte) (uint, bool) {
	r := bitReader{b: body}
	if _, ok := r.ue(); !ok {
		return 0, false
	}
	return r.ue()
}

type bitReader struct {
	b   []byte
	pos int
}

func (r *bitReader) bit() (uint, bool) {
	if r.pos >= len(r.b)*8 {
		return 0, false
	}
	v := uint(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v, true
}

func (r *bitReader) ue() (uint, bool) {
	zeros := 0
	for {
		b, ok := r.bit()
		if !ok {
			return 0, false
		}
		if b == 1 {
			break
		}
		zeros++
		if zeros > 31 {
			return 0, false
		}
	}
	var v uint
	for i := 0; i < zeros; i++ {
		b, ok := r.bit()
		if !ok {
			return 0, false
		}
		v = v<<1 | b
	}
	return (1 << zeros) - 1 + v, true
}

func bytesEqual(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
