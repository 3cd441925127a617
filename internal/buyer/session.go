package buyer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Kinds of buyer session.
const (
	KindEmail = "email"
	KindGuest = "guest"
)

// Audience is the audience of session tokens: a node token or a playback
// token signed with the same secret is not a session.
const Audience = "livedrop-buyer"

// Session is what a verified session token says.
type Session struct {
	// Buyer is the buyer id: stable per email, random per guest.
	Buyer string `json:"buyer"`
	// Device is the id the buyer's page made up and keeps.
	Device string `json:"device"`
	// Kind is KindEmail or KindGuest.
	Kind    string    `json:"kind"`
	Expires time.Time `json:"expires_at"`
	// Member is the seller's member flag of the buyer's email when the
	// session was minted (a flag set later shows on the next sign-in).
	Member bool `json:"member,omitempty"`
}

type claims struct {
	Device string `json:"dev"`
	Kind   string `json:"kind"`
	Member bool   `json:"mem,omitempty"`
	jwt.RegisteredClaims
}

// Sessions mints and verifies session tokens: HS256 JWTs whose header
// names the signing key (kid), so a rotation verifies old and new tokens
// side by side. It is safe for concurrent use.
type Sessions struct {
	keys   map[string][]byte // kid -> secret
	kid    string            // the signing key
	ttl    time.Duration
	now    func() time.Time
	m      *Metrics
	parser *jwt.Parser
	cache  verified
}

// verifiedCache bounds the tokens remembered as verified: a buyer's next
// requests (a retry, their orders list) skip the parse and the HMAC.
const verifiedCache = 8192

// verified remembers verified tokens in two generations: when the current
// one is full it becomes the previous and the oldest is dropped, so memory
// stays bounded and a token used lately stays known.
type verified struct {
	mu        sync.Mutex
	cur, prev map[string]Session
}

func (v *verified) get(tok string) (Session, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.cur[tok]; ok {
		return s, true
	}
	s, ok := v.prev[tok]
	if ok {
		v.putLocked(tok, s)
	}
	return s, ok
}

func (v *verified) put(tok string, s Session) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.putLocked(tok, s)
}

func (v *verified) putLocked(tok string, s Session) {
	if len(v.cur) >= verifiedCache/2 {
		v.prev, v.cur = v.cur, make(map[string]Session, verifiedCache/2)
	}
	if v.cur == nil {
		v.cur = make(map[string]Session, verifiedCache/2)
	}
	v.cur[tok] = s
}

// NewSessions builds the sessions of secrets (the first signs, all verify);
// now is the clock (time.Now when nil), m the metrics (nil: unregistered).
func NewSessions(secrets []string, ttl time.Duration, now func() time.Time, m *Metrics) (*Sessions, error) {
	if len(secrets) == 0 {
		return nil, errors.New("buyer sessions need at least one secret")
	}
	if now == nil {
		now = time.Now
	}
	if m == nil {
		m = newMetrics()
	}
	s := &Sessions{keys: map[string][]byte{}, ttl: ttl, now: now, m: m}
	for i, sec := range secrets {
		if len(sec) < MinSecretLen {
			return nil, fmt.Errorf("buyer.session_secrets[%d]: must be at least %d characters", i, MinSecretLen)
		}
		s.keys[keyID(sec)] = []byte(sec)
	}
	s.kid = keyID(secrets[0])
	s.parser = jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithAudience(Audience), jwt.WithTimeFunc(now), jwt.WithIssuedAt(), jwt.WithLeeway(leeway))
	return s, nil
}

// keyID names a secret in a token's header without revealing it.
func keyID(secret string) string {
	sum := sha256.Sum256([]byte("livedrop buyer session key id\x00" + secret))
	return hex.EncodeToString(sum[:6])
}

// TTL is how long a minted session lasts.
func (s *Sessions) TTL() time.Duration { return s.ttl }

// Mint signs a session for buyer on device.
func (s *Sessions) Mint(buyer, device, kind string) (string, Session, error) {
	return s.MintMember(buyer, device, kind, false)
}

// MintMember signs a session for buyer on device that says whether the
// buyer is a member (only an email buyer can be).
func (s *Sessions) MintMember(buyer, device, kind string, member bool) (string, Session, error) {
	if !ValidBuyerID(buyer) || !ValidDevice(device) || (kind != KindEmail && kind != KindGuest) || (member && kind != KindEmail) {
		return "", Session{}, fmt.Errorf("%w: session for buyer %q, device %q, kind %q", ErrInvalid, buyer, device, kind)
	}
	now := s.now()
	exp := now.Add(s.ttl).Truncate(time.Second).UTC()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Device: device, Kind: kind, Member: member, RegisteredClaims: jwt.RegisteredClaims{
		Subject: buyer, Audience: jwt.ClaimStrings{Audience}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
	}})
	t.Header["kid"] = s.kid
	tok, err := t.SignedString(s.keys[s.kid])
	if err != nil {
		return "", Session{}, err
	}
	return tok, Session{Buyer: buyer, Device: device, Kind: kind, Expires: exp, Member: member}, nil
}

// MaxTokenLen bounds a session token; longer ones are refused unparsed.
const MaxTokenLen = 1024

// Verify checks a session token: signed by a known key, not expired, for
// buyers, with a valid buyer id, device and kind. A refusal wraps
// ErrSession and says why; it is counted by reason.
func (s *Sessions) Verify(tok string) (Session, error) {
	if sess, ok := s.cache.get(tok); ok {
		if s.now().Before(sess.Expires.Add(leeway)) {
			return sess, nil
		}
	}
	sess, err := s.verify(tok)
	if err != nil {
		var r *Refusal
		if errors.As(err, &r) {
			s.m.SessionFailures.WithLabelValues(r.Reason).Inc()
		}
		return Session{}, err
	}
	s.cache.put(tok, sess)
	return sess, nil
}

// leeway is the clock skew between edges a session's times allow.
const leeway = 5 * time.Second

func (s *Sessions) verify(tok string) (Session, error) {
	if tok == "" {
		return Session{}, refuse(ErrSession, "missing", "sign in first: this needs a buyer session (Authorization: Bearer <session>)")
	}
	if len(tok) > MaxTokenLen {
		return Session{}, refuse(ErrSession, "malformed", "session refused: malformed token")
	}
	var c claims
	_, err := s.parser.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := s.keys[kid]
		if !ok {
			return nil, errUnknownKey
		}
		return k, nil
	})
	switch {
	case err == nil:
	case errors.Is(err, errUnknownKey):
		return Session{}, refuse(ErrSession, "unknown_key", "session refused: not signed with a key this edge knows (sign in again)")
	case errors.Is(err, jwt.ErrTokenExpired):
		return Session{}, refuse(ErrSession, "expired", "session expired: sign in again")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return Session{}, refuse(ErrSession, "bad_signature", "session refused: bad signature")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return Session{}, refuse(ErrSession, "malformed", "session refused: malformed token")
	default:
		return Session{}, refuse(ErrSession, "invalid_claims", "session refused: "+err.Error())
	}
	if !ValidBuyerID(c.Subject) || !ValidDevice(c.Device) || (c.Kind != KindEmail && c.Kind != KindGuest) || (c.Member && c.Kind != KindEmail) {
		return Session{}, refuse(ErrSession, "invalid_claims", "session refused: its buyer, device or kind is not valid")
	}
	return Session{Buyer: c.Subject, Device: c.Device, Kind: c.Kind, Expires: c.ExpiresAt.Time.UTC(), Member: c.Member}, nil
}

var errUnknownKey = errors.New("unknown session key")

var idEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewGuestID is a fresh guest buyer id.
func NewGuestID() string { return newID(guestPrefix) }

// newID is prefix + 26 random base32 characters (128 bits).
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToLower(idEnc.EncodeToString(b[:]))
}

// Buyer id prefixes: email buyers and guests.
const (
	emailPrefix = "e-"
	guestPrefix = "g-"
)

// ValidBuyerID reports whether s is a buyer id this package issues: "e-"
// or "g-" and 26 characters of base32 in lower case.
func ValidBuyerID(s string) bool {
	if len(s) != 28 || (s[:2] != emailPrefix && s[:2] != guestPrefix) {
		return false
	}
	for _, c := range []byte(s[2:]) {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// Device ids: what the page makes up, 8 to 64 of [A-Za-z0-9_-].
const (
	MinDeviceLen = 8
	MaxDeviceLen = 64
)

// ValidDevice reports whether s is a device id a page may present.
func ValidDevice(s string) bool {
	if len(s) < MinDeviceLen || len(s) > MaxDeviceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
