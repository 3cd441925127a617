package srtpdirect

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// gcmTagSize is the AEAD GCM authentication tag's size.
const gcmTagSize = 16

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
