package checkouthttp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
)

// OrderTokenHeader carries an order token on GET /v1/orders/{id}; the
// query parameter "token" does too (a confirmation link).
const OrderTokenHeader = "Order-Token"

// OrderTokens sign and check the token that lets a buyer read an order.
// The token is an HMAC of the order id, so every edge with the same keys
// mints the same token for the same order, with no state: a retry of the
// purchase through another edge returns a token that works everywhere.
type OrderTokens struct {
	keys [][]byte
}

var tokenEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewOrderTokens takes the keys: the first signs, every one verifies (a
// rotation keeps the old key second until the old tokens may lapse).
func NewOrderTokens(keys ...[]byte) (*OrderTokens, error) {
	if len(keys) == 0 {
		return nil, errors.New("order tokens need at least one key")
	}
	for _, k := range keys {
		if len(k) < 16 {
			return nil, errors.New("an order token key must be at least 16 bytes")
		}
	}
	return &OrderTokens{keys: keys}, nil
}

func sign(key []byte, id string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("livedrop order token\x00"))
	m.Write([]byte(id))
	return strings.ToLower(tokenEnc.EncodeToString(m.Sum(nil)[:20]))
}

// Sign returns the token of the order id.
func (t *OrderTokens) Sign(id string) string { return sign(t.keys[0], id) }

// Valid reports whether tok is the token of the order id under any key.
func (t *OrderTokens) Valid(id, tok string) bool {
	for _, k := range t.keys {
		if hmac.Equal([]byte(sign(k, id)), []byte(tok)) {
			return true
		}
	}
	return false
}
