// Package srtpdirect protects a viewer session's RTP itself, with SRTP keys
// taken from the session's DTLS handshake, and writes it straight into the
// node's UDP send batch.
//
// The direct path: a viewer session whose ICE pair runs over the node's UDP
// media socket encrypts its RTP itself and queues it on that socket, instead
// of passing every packet through pion's interceptor chain, SRTP session,
// DTLS/SRTP demultiplexer and ICE connection, each with its own locks and
// copies (about a third of the node's CPU per packet at 500 viewers). pion
// still runs everything else on the session: ICE checks and consent, DTLS,
// RTCP in both directions.
//
// pion does not hand out a session's SRTP keys, so the session's DTLS
// handshake is watched (KeyCapture): the Server Hello we send gives our
// random, the cipher suite and the SRTP profile; pion's key log (NSS
// format, kept in memory, never written anywhere) gives the client's random
// and the master secret. From those the keys are exported as RFC 5764 says,
// exactly as pion does for its own SRTP session.
//
// The package knows no WebRTC API and no HTTP: it takes pion's DTLS hooks,
// RTP headers, and a socket (Socket, BatchSocket) that udpbatch.Conn is.
package srtpdirect

import (
	"net"
	"net/netip"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// Socket is a UDP socket of the node's ICE UDP mux that takes
// already-protected packets.
type Socket interface {
	LocalAddr() net.Addr
	WriteToAddrPort(b []byte, dst netip.AddrPort) (int, error)
}

// BatchSocket is a Socket that lets a sender protect its packets in place
// in the socket's send batch (udpbatch.Conn.Reserve): Reserve places
// packets of the given sizes for dst, the first and as many after it as
// fit, and returns their room; Release says they are written.
type BatchSocket interface {
	Reserve(dst netip.AddrPort, sizes []int32) (room []byte, n int, tok any, err error)
	Release(tok any)
}

// NewPath protects with our own AES-GCM sealer when the profile is AEAD
// GCM (what browsers pick with us as the DTLS server), else with pion's
// SRTP context. It fails when k holds no complete handshake.
func NewPath(k *KeyCapture, sock Socket, dst netip.AddrPort) (*Path, error) {
	key, salt, profile, err := k.localKeys()
	if err != nil {
		return nil, err
	}
	d := &Path{sock: sock, dst: dst}
	switch profile {
	case srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm:
		d.gcm, err = newGCMSealer(key, salt)
	default:
		d.ctx, err = srtp.CreateContext(key, salt, profile)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Path sends one session's RTP, protected by us, on a media socket.
type Path struct {
	mu   sync.Mutex
	gcm  *gcmSealer    // AEAD GCM profiles
	ctx  *srtp.Context // other profiles
	sock Socket
	dst  netip.AddrPort
	hdr  rtp.Header
	buf  []byte

	// the last packet sent, to pad the next one of its frame (equalize)
	lastSSRC, lastTS uint32
	lastLen          int
	padded           []byte
	padHdr           rtp.Header

	// WriteRun's scratch: each packet's size on the wire and padding
	sizes []int32
	pads  []uint8
}

// maxEqualize is the most padding equalize adds to a packet.
const maxEqualize = 8

// srtpOverhead is the most SRTP adds to a packet (an AES-CM HMAC-SHA1-80
// tag is 10 bytes, a GCM tag 16).
const srtpOverhead = 16

// Packet is an RTP packet of a run (WriteRun): its header, SSRC and
// payload type set, which WriteRun may change (it adds RTP padding), and
// its payload, which it does not.
type Packet struct {
	Header  *rtp.Header
	Payload []byte
}

// WriteRun protects run and queues it, in order, and returns how many of
// its packets left: all of them, or those before an error (a closed
// socket). With AEAD GCM on the node's media socket they are sealed
// straight into its send batch, one reservation per run and no copy;
// otherwise they go one by one.
func (d *Path) WriteRun(run []Packet) (sent int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	bs, ok := d.sock.(BatchSocket)
	if !ok || d.gcm == nil {
		for i := range run {
			p := &run[i]
			if err := d.writeOne(p.Header, p.Payload); err != nil {
				return i, err
			}
		}
		return len(run), nil
	}
	if cap(d.sizes) < len(run) {
		d.sizes = make([]int32, len(run), max(len(run), 64))
		d.pads = make([]uint8, len(run), max(len(run), 64))
	}
	sizes, pads := d.sizes[:len(run)], d.pads[:len(run)]
	for i := range run {
		p := &run[i]
		pad := d.equalize(p.Header, len(p.Payload))
		if pad > 0 {
			p.Header.Padding, p.Header.PaddingSize = true, byte(pad)
		}
		pads[i] = uint8(pad)
		sizes[i] = int32(p.Header.MarshalSize() + len(p.Payload) + pad + gcmTagSize)
	}
	for i := 0; i < len(run); {
		room, n, tok, err := bs.Reserve(d.dst, sizes[i:])
		if err != nil {
			return i, err
		}
		off := 0
		for j := i; j < i+n; j++ {
			d.sealInto(room[off:off+int(sizes[j])], &run[j], pads[j])
			off += int(sizes[j])
		}
		bs.Release(tok)
		i += n
	}
	return len(run), nil
}

// sealInto writes p, protected, with pad bytes of padding, into b: exactly
// its size.
func (d *Path) sealInto(b []byte, p *Packet, pad uint8) {
	h := p.Header
	hl, _ := h.MarshalTo(b) // b has room: sized by MarshalSize
	plain := p.Payload
	if pad > 0 {
		n := copy(b[hl:], p.Payload)
		padding := b[hl+n : hl+n+int(pad)]
		clear(padding)
		padding[len(padding)-1] = pad
		plain = b[hl : hl+n+int(pad)]
	}
	d.gcm.seal(b[:hl], h.SSRC, h.SequenceNumber, plain)
}

// WriteRTP protects one packet and queues it.
func (d *Path) WriteRTP(h *rtp.Header, payload []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writeOne(h, payload)
}

// writeOne protects one packet in the path's buffer and writes it to the
// socket, which copies it; under d.mu.
func (d *Path) writeOne(h *rtp.Header, payload []byte) error {
	if pad := d.equalize(h, len(payload)); pad > 0 {
		d.padHdr = *h
		d.padHdr.Padding, d.padHdr.PaddingSize = true, byte(pad)
		h = &d.padHdr
		d.padded = append(d.padded[:0], payload...)
		d.padded = append(d.padded, make([]byte, pad)...)
		d.padded[len(d.padded)-1] = byte(pad)
		payload = d.padded
	}
	hl := h.MarshalSize()
	n := hl + len(payload)
	if cap(d.buf) < n+srtpOverhead {
		d.buf = make([]byte, max(n+srtpOverhead, 1500))
	}
	b := d.buf[:n]
	if _, err := h.MarshalTo(b); err != nil {
		return err
	}
	var out []byte
	if d.gcm != nil {
		out = d.gcm.seal(b[:hl], h.SSRC, h.SequenceNumber, payload)
	} else {
		copy(b[hl:], payload)
		var err error
		if out, err = d.ctx.EncryptRTP(b, b, &d.hdr); err != nil {
			return err
		}
	}
	_, err := d.sock.WriteToAddrPort(out, d.dst)
	return err
}

// equalize returns how many bytes of RTP padding make a packet as long as
// the one before it of the same frame, when that is at most maxEqualize.
// The normalizer cuts a NAL unit into pieces that differ by a byte at
// most (avc.Normalizer); padded, they are all of one size, and the audio
// packet the fan-out sends after the frame (fanout's arrange) joins the
// frame's GSO datagram as its short last segment.
func (d *Path) equalize(h *rtp.Header, payloadLen int) int {
	n := h.MarshalSize() + payloadLen
	pad := 0
	if h.SSRC == d.lastSSRC && h.Timestamp == d.lastTS && !h.Padding && n < d.lastLen && d.lastLen-n <= maxEqualize {
		pad = d.lastLen - n
	}
	d.lastSSRC, d.lastTS, d.lastLen = h.SSRC, h.Timestamp, n+pad
	return pad
}

// SetRoute points the path at a new ICE pair: its socket and remote
// address.
func (d *Path) SetRoute(sock Socket, dst netip.AddrPort) {
	d.mu.Lock()
	d.sock, d.dst = sock, dst
	d.mu.Unlock()
}
