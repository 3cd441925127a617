package whep

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/livedrop/livedrop/internal/stream"
)

// The direct path: a viewer session whose ICE pair runs over the node's UDP
// media socket encrypts its RTP itself and queues it on that socket, instead
// of passing every packet through pion's interceptor chain, SRTP session,
// DTLS/SRTP demultiplexer and ICE connection, each with its own locks and
// copies (about a third of the node's CPU per packet at 500 viewers). pion
// still runs everything else on the session: ICE checks and consent, DTLS,
// RTCP in both directions.
//
// pion does not hand out a session's SRTP keys, so the session's DTLS
// handshake is watched: the Server Hello we send gives our random, the
// cipher suite and the SRTP profile; pion's key log (NSS format, kept in
// memory, never written anywhere) gives the client's random and the master
// secret. From those the keys are exported as RFC 5764 says, exactly as
// pion does for its own SRTP session.

// mediaSocket is a UDP socket of the node's ICE UDP mux that takes
// already-protected packets.
type mediaSocket interface {
	LocalAddr() net.Addr
	WriteToAddrPort(b []byte, dst netip.AddrPort) (int, error)
}

// batchSocket is a media socket that lets a sender protect its packets
// in place in the socket's send batch (udpbatch.Conn.Reserve).
type batchSocket interface {
	Reserve(dst netip.AddrPort, sizes []int32) (room []byte, n int, tok any, err error)
	Release(tok any)
}

// keyCapture collects one DTLS handshake's secrets.
type keyCapture struct {
	mu      sync.Mutex
	hello   bool
	server  [32]byte
	suite   dtls.CipherSuiteID
	profile dtls.SRTPProtectionProfile
	client  []byte
	master  []byte
}

// Write takes pion's key log lines: "CLIENT_RANDOM <hex> <hex>".
func (k *keyCapture) Write(p []byte) (int, error) {
	f := strings.Fields(string(p))
	if len(f) != 3 || f[0] != "CLIENT_RANDOM" {
		return len(p), nil
	}
	client, err1 := hex.DecodeString(f[1])
	master, err2 := hex.DecodeString(f[2])
	if err1 != nil || err2 != nil || len(client) != 32 {
		return len(p), nil
	}
	k.mu.Lock()
	k.client, k.master = client, master
	k.mu.Unlock()
	return len(p), nil
}

// serverHello records the Server Hello pion sends, unchanged.
func (k *keyCapture) serverHello(m handshake.MessageServerHello) handshake.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.server = m.Random.MarshalFixed()
	k.hello = m.CipherSuiteID != nil
	if m.CipherSuiteID != nil {
		k.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	k.profile = 0
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			k.profile = u.ProtectionProfiles[0]
		}
	}
	return &m
}

// prfHash is the PRF hash of the cipher suites pion offers.
func prfHash(id dtls.CipherSuiteID) func() hash.Hash {
	switch id {
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, dtls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8:
		return sha256.New
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return sha512.New384
	}
	return nil
}

var errNoKeys = errors.New("DTLS handshake not captured")

// ExportKeyingMaterial is RFC 5705's exporter for the captured handshake
// (we are the DTLS server).
func (k *keyCapture) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("exporter context not supported")
	}
	h := prfHash(k.suite)
	if h == nil {
		return nil, fmt.Errorf("cipher suite %#04x: PRF hash unknown", uint16(k.suite))
	}
	seed := make([]byte, 0, len(label)+64)
	seed = append(append(append(seed, label...), k.client...), k.server[:]...)
	return prf.PHash(k.master, seed, length, h)
}

// localKeys exports our SRTP master key and salt and the profile.
func (k *keyCapture) localKeys() (key, salt []byte, profile srtp.ProtectionProfile, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.hello || k.master == nil || k.profile == 0 {
		return nil, nil, 0, errNoKeys
	}
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(k.profile)}
	if err := cfg.ExtractSessionKeysFromDTLS(k, false); err != nil {
		return nil, nil, 0, err
	}
	return cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cfg.Profile, nil
}

// newDirectPath protects with our own AES-GCM sealer when the profile is
// AEAD GCM (what browsers pick with us as the DTLS server), else with
// pion's SRTP context.
func newDirectPath(k *keyCapture, sock mediaSocket, dst netip.AddrPort) (*directPath, error) {
	key, salt, profile, err := k.localKeys()
	if err != nil {
		return nil, err
	}
	d := &directPath{sock: sock, dst: dst}
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

// directPath sends one session's RTP, protected by us, on a media socket.
type directPath struct {
	mu   sync.Mutex
	gcm  *gcmSealer    // AEAD GCM profiles
	ctx  *srtp.Context // other profiles
	sock mediaSocket
	dst  netip.AddrPort
	hdr  rtp.Header
	buf  []byte

	// the last packet sent, to pad the next one of its frame (equalize)
	lastSSRC, lastTS uint32
	lastLen          int
	padded           []byte
	padHdr           rtp.Header
	sizes            []int32 // writeRun's scratch
}

// maxEqualize is the most padding equalize adds to a packet.
const maxEqualize = 8

// srtpOverhead is the most SRTP adds to a packet (an AES-CM HMAC-SHA1-80
// tag is 10 bytes, a GCM tag 16).
const srtpOverhead = 16

// outPacket is an RTP packet for a session's direct path, and, after
// writeRun, whether it left.
type outPacket struct {
	h       rtp.Header // SSRC and payload type set
	payload []byte
	sent    bool

	size int32 // on the wire, protected; writeRun's
	pad  uint8 // RTP padding added (equalize); writeRun's

	// the writer's, for its counts
	src    *stream.Packet
	audio  bool
	sample bool
}

// writeRun protects pkts and queues them, in order. With AEAD GCM on the
// node's media socket they are sealed straight into its send batch: one
// reservation per run, no copy; otherwise they go one by one.
func (d *directPath) writeRun(pkts []outPacket) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	bs, ok := d.sock.(batchSocket)
	if !ok || d.gcm == nil {
		for i := range pkts {
			p := &pkts[i]
			if err := d.writeOne(&p.h, p.payload); err != nil {
				return err
			}
			p.sent = true
		}
		return nil
	}
	if cap(d.sizes) < len(pkts) {
		d.sizes = make([]int32, len(pkts), max(len(pkts), 64))
	}
	sizes := d.sizes[:len(pkts)]
	for i := range pkts {
		p := &pkts[i]
		pad := d.equalize(&p.h, len(p.payload))
		if pad > 0 {
			p.h.Padding, p.h.PaddingSize = true, byte(pad)
		}
		p.pad = uint8(pad)
		p.size = int32(p.h.MarshalSize() + len(p.payload) + pad + gcmTagSize)
		sizes[i] = p.size
	}
	for i := 0; i < len(pkts); {
		room, n, tok, err := bs.Reserve(d.dst, sizes[i:])
		if err != nil {
			return err
		}
		off := 0
		for j := i; j < i+n; j++ {
			p := &pkts[j]
			d.sealInto(room[off:off+int(p.size)], p)
			off += int(p.size)
		}
		bs.Release(tok)
		for j := i; j < i+n; j++ {
			pkts[j].sent = true
		}
		i += n
	}
	return nil
}

// sealInto writes p, protected, into b: exactly its size.
func (d *directPath) sealInto(b []byte, p *outPacket) {
	hl, _ := p.h.MarshalTo(b) // b has room: sized by MarshalSize
	plain := p.payload
	if p.pad > 0 {
		n := copy(b[hl:], p.payload)
		pad := b[hl+n : hl+n+int(p.pad)]
		clear(pad)
		pad[len(pad)-1] = p.pad
		plain = b[hl : hl+n+int(p.pad)]
	}
	d.gcm.seal(b[:hl], p.h.SSRC, p.h.SequenceNumber, plain)
}

// gcmTagSize is the AEAD GCM authentication tag's size.
const gcmTagSize = 16

// writeRTP protects one packet and queues it.
func (d *directPath) writeRTP(h *rtp.Header, payload []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writeOne(h, payload)
}

// writeOne protects one packet in the path's buffer and writes it to the
// socket, which copies it; under d.mu.
func (d *directPath) writeOne(h *rtp.Header, payload []byte) error {
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
// packet the writer sends after the frame (writer.arrange) joins the
// frame's GSO datagram as its short last segment.
func (d *directPath) equalize(h *rtp.Header, payloadLen int) int {
	n := h.MarshalSize() + payloadLen
	pad := 0
	if h.SSRC == d.lastSSRC && h.Timestamp == d.lastTS && !h.Padding && n < d.lastLen && d.lastLen-n <= maxEqualize {
		pad = d.lastLen - n
	}
	d.lastSSRC, d.lastTS, d.lastLen = h.SSRC, h.Timestamp, n+pad
	return pad
}

// gcmSealer protects RTP with AEAD AES-GCM (RFC 7714): the session key
// and salt derived from the master key and salt as RFC 3711 says, the IV
// from the salt, SSRC, rollover counter and sequence number, the header
// authenticated, the payload encrypted. It does what pion's SRTP context
// does for these profiles without its per-packet map lookup, header
// parse and copies; TestKeyCaptureMatchesDTLS has pion open its packets.
type gcmSealer struct {
	aead  cipher.AEAD
	salt  [12]byte
	iv    [12]byte // here, not on the stack: Seal's interface call would move it to the heap per packet
	ssrcs []rocState
	// ssrcs' first backing store: in the sealer, not an allocation of its
	// own, so the lookup per packet touches memory the seal touches anyway
	inline [3]rocState
}

// rocState follows one SSRC's rollover counter (RFC 3711 3.3.1).
type rocState struct {
	ssrc uint32
	roc  uint32
	last uint16
}

func newGCMSealer(masterKey, masterSalt []byte) (*gcmSealer, error) {
	if len(masterSalt) != 12 {
		return nil, fmt.Errorf("AEAD GCM master salt of %d bytes, want 12", len(masterSalt))
	}
	key, err := srtpKDF(0x00, masterKey, masterSalt, len(masterKey))
	if err != nil {
		return nil, err
	}
	salt, err := srtpKDF(0x02, masterKey, masterSalt, 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	g := &gcmSealer{aead: aead}
	g.ssrcs = g.inline[:0]
	copy(g.salt[:], salt)
	return g, nil
}

// srtpKDF is RFC 3711's AES-CM key derivation with a key derivation rate
// of zero: AES under the master key of the master salt with the label
// xored into byte 7, in counter mode.
func srtpKDF(label byte, masterKey, masterSalt []byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	var in [16]byte
	copy(in[:], masterSalt)
	in[7] ^= label
	out := make([]byte, (n+15)/16*16)
	for i := 0; i*16 < n; i++ {
		binary.BigEndian.PutUint16(in[14:], uint16(i))
		block.Encrypt(out[i*16:], in[:])
	}
	return out[:n], nil
}

// roc returns the rollover counter of packet seq of ssrc and advances the
// SSRC's state when seq is its newest.
func (g *gcmSealer) roc(ssrc uint32, seq uint16) uint32 {
	var s *rocState
	for i := range g.ssrcs {
		if g.ssrcs[i].ssrc == ssrc {
			s = &g.ssrcs[i]
			break
		}
	}
	if s == nil {
		g.ssrcs = append(g.ssrcs, rocState{ssrc: ssrc, last: seq})
		return 0
	}
	diff := int16(seq - s.last)
	switch {
	case diff > 0:
		if seq < s.last {
			s.roc++ // wrapped
		}
		s.last = seq
		return s.roc
	case seq > s.last && s.roc > 0:
		return s.roc - 1 // older, from before the last wrap
	}
	return s.roc
}

// seal returns header followed by payload protected; header must have
// room after it for the payload and the 16-byte tag.
func (g *gcmSealer) seal(header []byte, ssrc uint32, seq uint16, payload []byte) []byte {
	roc := g.roc(ssrc, seq)
	iv := &g.iv
	iv[0], iv[1] = 0, 0
	binary.BigEndian.PutUint32(iv[2:], ssrc)
	binary.BigEndian.PutUint32(iv[6:], roc)
	binary.BigEndian.PutUint16(iv[10:], seq)
	for i := range iv {
		iv[i] ^= g.salt[i]
	}
	return g.aead.Seal(header, iv[:], payload, header)
}

// setRoute points the path at a new ICE pair: its socket and remote
// address.
func (d *directPath) setRoute(sock mediaSocket, dst netip.AddrPort) {
	d.mu.Lock()
	d.sock, d.dst = sock, dst
	d.mu.Unlock()
}

// directRoute finds the media socket and destination of an ICE pair, when
// the pair is plain UDP from one of socks.
func directRoute(pair *webrtc.ICECandidatePair, socks []mediaSocket) (mediaSocket, netip.AddrPort, bool) {
	if pair == nil || pair.Local == nil || pair.Remote == nil ||
		pair.Local.Protocol != webrtc.ICEProtocolUDP || pair.Local.Typ != webrtc.ICECandidateTypeHost {
		return nil, netip.AddrPort{}, false
	}
	remote, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	local, err := netip.ParseAddr(pair.Local.Address)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	var found mediaSocket
	for _, s := range socks {
		ua, ok := s.LocalAddr().(*net.UDPAddr)
		if !ok || int(pair.Local.Port) != ua.Port {
			continue
		}
		if a, ok := netip.AddrFromSlice(ua.IP); ok && a.Unmap() == local.Unmap() {
			found = s
			break
		}
	}
	if found == nil && len(socks) == 1 {
		// Announced under a public address (1:1 NAT): the one socket.
		if ua, ok := socks[0].LocalAddr().(*net.UDPAddr); ok && ua.Port == int(pair.Local.Port) {
			found = socks[0]
		}
	}
	if found == nil {
		return nil, netip.AddrPort{}, false
	}
	return found, netip.AddrPortFrom(remote.Unmap(), pair.Remote.Port), true
}
