package buyer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
)

// MaxEmailLen is the longest address accepted (RFC 5321's path limit).
const MaxEmailLen = 254

// NormalizeEmail trims and lower-cases an address and checks it is one
// plain ASCII address (no display name, no comments): the form every
// edge keys the same buyer by.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > MaxEmailLen {
		return "", fmt.Errorf("%w: email must be 1-%d characters", ErrInvalid, MaxEmailLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "", fmt.Errorf("%w: email must be plain ASCII without spaces", ErrInvalid)
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%w: %q is not an email address", ErrInvalid, s)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at+1:], ".") || strings.HasPrefix(s[at+1:], ".") || strings.HasSuffix(s, ".") {
		return "", fmt.Errorf("%w: %q is not an email address with a domain", ErrInvalid, s)
	}
	return s, nil
}

// emailKey names a normalised email in store keys without spelling it.
func emailKey(email string) string {
	sum := sha256.Sum256([]byte("livedrop buyer email\x00" + email))
	return hex.EncodeToString(sum[:16])
}
