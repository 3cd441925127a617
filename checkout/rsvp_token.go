package checkout

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RSVPKeys sign and verify RSVP tokens, with no state: the origin signs
// them when the seller issues a batch, every edge verifies them without a
// round trip. A token is "r1.DROP.SKU.BATCH.SEQ.DEADLINE.KID.MAC": the
// fields in the clear (ids are [A-Za-z0-9_-], so the token is URL-safe),
// DEADLINE in Unix seconds, KID naming the key and MAC an HMAC-SHA256 of
// the rest under it. The first key signs and every key verifies, so keys
// rotate like the node secrets they are derived from.
type RSVPKeys struct {
	keys map[string][]byte // kid -> key
	kid  string
	now  func() time.Time
}

// MaxRSVPTokenLen bounds a token; longer ones are refused unparsed.
const MaxRSVPTokenLen = 512

const rsvpTokenVersion = "r1"

// NewRSVPKeys builds the keys (the first signs, all verify; each at least
// 16 bytes); now is the clock deadlines are checked against (nil: time.Now).
func NewRSVPKeys(now func() time.Time, keys ...[]byte) (*RSVPKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("rsvp tokens need at least one key")
	}
	if now == nil {
		now = time.Now
	}
	k := &RSVPKeys{keys: make(map[string][]byte, len(keys)), now: now}
	for i, key := range keys {
		if len(key) < 16 {
			return nil, fmt.Errorf("rsvp token key %d: must be at least 16 bytes", i)
		}
		id := rsvpKeyID(key)
		k.keys[id] = key
		if i == 0 {
			k.kid = id
		}
	}
	return k, nil
}

// rsvpKeyID names a key in a token without revealing it.
func rsvpKeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("livedrop rsvp key id\x00"), key...))
	return hex.EncodeToString(sum[:4])
}

func rsvpMAC(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("livedrop rsvp token\x00"))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func rsvpPayload(r RSVP) string {
	return strings.Join([]string{rsvpTokenVersion, r.Drop, r.SKU, r.Batch, strconv.Itoa(r.Seq),
		strconv.FormatInt(r.Deadline.Unix(), 10)}, ".")
}

// Sign returns the token of r (its deadline is kept to the second).
func (k *RSVPKeys) Sign(r RSVP) string {
	p := rsvpPayload(r) + "." + k.kid
	return p + "." + rsvpMAC(k.keys[k.kid], p)
}

// Parse checks a token's form and signature, not its deadline; a refusal
// wraps ErrRSVPInvalid and says why.
func (k *RSVPKeys) Parse(tok string) (RSVP, error) {
	if len(tok) > MaxRSVPTokenLen {
		return RSVP{}, fmt.Errorf("%w: malformed token", ErrRSVPInvalid)
	}
	f := strings.Split(tok, ".")
	if len(f) != 8 || f[0] != rsvpTokenVersion {
		return RSVP{}, fmt.Errorf("%w: malformed token", ErrRSVPInvalid)
	}
	key, ok := k.keys[f[6]]
	if !ok {
		return RSVP{}, fmt.Errorf("%w: not signed with a key this node knows", ErrRSVPInvalid)
	}
	body := tok[:len(tok)-len(f[7])-1]
	if !hmac.Equal([]byte(rsvpMAC(key, body)), []byte(f[7])) {
		return RSVP{}, fmt.Errorf("%w: bad signature", ErrRSVPInvalid)
	}
	seq, err1 := strconv.Atoi(f[4])
	dl, err2 := strconv.ParseInt(f[5], 10, 64)
	r := RSVP{Drop: f[1], SKU: f[2], Batch: f[3], Seq: seq, Deadline: time.Unix(dl, 0).UTC()}
	if err1 != nil || err2 != nil || seq < 1 || !ValidID(r.Drop) || !ValidID(r.SKU) || !ValidID(r.Batch) {
		return RSVP{}, fmt.Errorf("%w: malformed token", ErrRSVPInvalid)
	}
	return r, nil
}

// Verify parses tok and checks it is for drop and sku and before its
// deadline: ErrRSVPInvalid or ErrRSVPExpired say why not.
func (k *RSVPKeys) Verify(tok, drop, sku string) (RSVP, error) {
	r, err := k.Parse(tok)
	if err != nil {
		return RSVP{}, err
	}
	if r.Drop != drop || r.SKU != sku {
		return RSVP{}, fmt.Errorf("%w: it is for %s of drop %s", ErrRSVPInvalid, r.SKU, r.Drop)
	}
	if !k.now().Before(r.Deadline) {
		return r, fmt.Errorf("%w (deadline %s)", ErrRSVPExpired, r.Deadline.Format(time.RFC3339))
	}
	return r, nil
}

// newBatchID makes up a batch id (80 random bits).
func newBatchID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "r" + b32lower.EncodeToString(b[:])
}
