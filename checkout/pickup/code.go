package pickup

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
)

// The pickup code of an order: a keyed hash of its id, short enough to read
// out at a stall and type on a phone.

// Alphabet is the code's 32 symbols: no 0/O, no 1/I, so a code read aloud
// or from a screen is typed right.
const Alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// CodeLen is the length of a code (40 bits).
const CodeLen = 8

// Codes derives pickup codes with a secret key the origin and its edges
// share: a code names one order and cannot be guessed from its id.
type Codes struct {
	key []byte
}

// NewCodes builds Codes on key (at least 16 bytes).
func NewCodes(key []byte) (*Codes, error) {
	if len(key) < 16 {
		return nil, errors.New("pickup: the code key must be at least 16 bytes")
	}
	return &Codes{key: append([]byte(nil), key...)}, nil
}

// Code returns the pickup code of order id.
func (c *Codes) Code(orderID string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("livedrop pickup code\x00"))
	m.Write([]byte(orderID))
	sum := m.Sum(nil)
	var out [CodeLen]byte
	var acc uint64
	for i := range 5 {
		acc = acc<<8 | uint64(sum[i])
	}
	for i := CodeLen - 1; i >= 0; i-- {
		out[i] = Alphabet[acc&31]
		acc >>= 5
	}
	return string(out[:])
}

// Display is code as a desk shows it: two groups of four.
func Display(code string) string {
	if len(code) != CodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// Normalize reads a typed or scanned code: any case, with or without the
// dash and spaces, O read as 0's neighbour is refused rather than guessed.
// It reports whether the result is a well-formed code.
func Normalize(in string) (string, bool) {
	if len(in) > 4*CodeLen {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r < 128 && strings.IndexByte(Alphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	s := b.String()
	return s, len(s) == CodeLen
}
