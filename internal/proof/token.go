package proof

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// A token is base64url (no padding) of
//
//	version (1) | kind (1) | key id (4) | body | MAC (16)
//
// where the MAC is HMAC-SHA256 over everything before it, cut to 128 bits.
// Bodies are fixed fields then length-prefixed strings (one length byte).
const (
	tokenVersion = 1
	kindWatch    = 'W'
	kindPoW      = 'P'
	headerLen    = 6
	macLen       = 16
	// MaxTokenLen bounds an encoded token; longer input is refused before
	// it is decoded.
	MaxTokenLen = 512
)

var b64 = base64.RawURLEncoding

// Errors of a token that does not verify.
var (
	errMalformed = errors.New("malformed token")
	errForged    = errors.New("token signature does not verify")
)

// seal appends the MAC of msg under k and encodes the token.
func seal(k *key, msg []byte) string {
	var mac [macLen]byte
	k.sum(msg, &mac)
	msg = append(msg, mac[:]...)
	return b64.EncodeToString(msg)
}

// header starts a token of kind signed by k.
func header(buf []byte, kind byte, k *key) []byte {
	buf = append(buf, tokenVersion, kind)
	return append(buf, k.id[:]...)
}

// open decodes tok into buf, checks its kind and MAC, and returns the body.
func open(r keyring, kind byte, tok string, buf *[MaxTokenLen]byte) ([]byte, error) {
	if len(tok) == 0 || len(tok) > MaxTokenLen {
		return nil, errMalformed
	}
	n, err := b64.Decode(buf[:], []byte(tok))
	if err != nil || n < headerLen+macLen {
		return nil, errMalformed
	}
	raw := buf[:n]
	if raw[0] != tokenVersion || raw[1] != kind {
		return nil, errMalformed
	}
	k := r.byID(raw[2:6])
	if k == nil {
		return nil, errForged // signed by a key this node does not hold (or forged)
	}
	var mac [macLen]byte
	k.sum(raw[:n-macLen], &mac)
	if !hmac.Equal(mac[:], raw[n-macLen:]) {
		return nil, errForged
	}
	return raw[headerLen : n-macLen], nil
}

// reader takes fields off a body; a short body sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) int64() int64 {
	if len(r.b) < 8 {
		r.bad = true
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if len(r.b) < n {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// str is a length-prefixed string, as bytes (no copy).
func (r *reader) str() []byte { return r.bytes(int(r.byte())) }

func putInt64(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }

func putStr(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}
