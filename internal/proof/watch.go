package proof

import (
	"errors"
	"fmt"
	"time"
)

// WatchClaims are what a watch proof says: the buyer's media session on
// stream has been receiving it since Since, as its edge saw at IssuedAt.
// The proven watch time is IssuedAt - Since.
type WatchClaims struct {
	Buyer    string
	Stream   string
	Session  string
	Since    time.Time
	IssuedAt time.Time
	Expires  time.Time
}

// Watched is the watch time the claims prove.
func (c WatchClaims) Watched() time.Duration { return c.IssuedAt.Sub(c.Since) }

// maxField bounds each string of a token (one length byte).
const maxField = 255

// Watch proof verification failures (the gate names them to the buyer).
var (
	ErrWatchExpired     = errors.New("watch proof expired")
	ErrWatchOtherBuyer  = errors.New("watch proof is another buyer's")
	ErrWatchOtherStream = errors.New("watch proof is for another stream")
)

func signWatch(k *key, c WatchClaims) (string, error) {
	if len(c.Buyer) == 0 || len(c.Buyer) > maxField || len(c.Stream) == 0 || len(c.Stream) > maxField || len(c.Session) > maxField {
		return "", errors.New("watch proof: buyer, stream or session empty or too long")
	}
	var buf [MaxTokenLen]byte
	b := header(buf[:0], kindWatch, k)
	b = putInt64(b, c.IssuedAt.UnixMilli())
	b = putInt64(b, c.Since.UnixMilli())
	b = putInt64(b, c.Expires.UnixMilli())
	b = putStr(b, c.Buyer)
	b = putStr(b, c.Stream)
	b = putStr(b, c.Session)
	return seal(k, b), nil
}

// watchFields is a verified watch proof's body, its strings still in the
// decode buffer.
type watchFields struct {
	issued, since, exp     int64
	buyer, stream, session []byte
}

func parseWatch(r keyring, tok string, buf *[MaxTokenLen]byte) (watchFields, error) {
	body, err := open(r, kindWatch, tok, buf)
	if err != nil {
		return watchFields{}, err
	}
	rd := reader{b: body}
	f := watchFields{issued: rd.int64(), since: rd.int64(), exp: rd.int64()}
	f.buyer, f.stream, f.session = rd.str(), rd.str(), rd.str()
	if rd.bad || len(rd.b) != 0 || f.since > f.issued || f.exp < f.issued {
		return watchFields{}, errMalformed
	}
	return f, nil
}

// ParseWatch verifies tok's signature and returns its claims, without
// checking expiry or whose it is (for tools and tests; orders use the Gate).
func (g *Gate) ParseWatch(tok string) (WatchClaims, error) {
	var buf [MaxTokenLen]byte
	f, err := parseWatch(g.watchKeys, tok, &buf)
	if err != nil {
		return WatchClaims{}, err
	}
	return WatchClaims{Buyer: string(f.buyer), Stream: string(f.stream), Session: string(f.session),
		Since: time.UnixMilli(f.since), IssuedAt: time.UnixMilli(f.issued), Expires: time.UnixMilli(f.exp)}, nil
}

// verifyWatch checks tok for buyer and stream at now and returns the watch
// time it proves.
func verifyWatch(r keyring, tok, buyer, stream string, now time.Time) (time.Duration, error) {
	var buf [MaxTokenLen]byte
	f, err := parseWatch(r, tok, &buf)
	if err != nil {
		return 0, err
	}
	switch {
	case now.UnixMilli() > f.exp:
		return 0, ErrWatchExpired
	case string(f.buyer) != buyer:
		return 0, ErrWatchOtherBuyer
	case string(f.stream) != stream:
		return 0, ErrWatchOtherStream
	}
	return time.Duration(f.issued-f.since) * time.Millisecond, nil
}

// SessionState is what an edge knows of a viewer's media session when the
// viewer asks for a watch proof.
type SessionState struct {
	Stream    string
	Connected bool
	// Receiving is when the current unbroken run of the viewer's receiver
	// reports began (zero: none yet); LastReport the latest of them.
	Receiving  time.Time
	LastReport time.Time
}

// Reasons a watch proof is not issued.
var (
	ErrNotReceiving = errors.New("the media session is not receiving the stream yet")
)

// reportFresh is how recent the viewer's last receiver report must be for
// its session to count as receiving (players report about every second).
const reportFresh = 5 * time.Second

// IssueWatch signs a watch proof for buyer's session in state s, seen at
// now.
func (g *Gate) IssueWatch(buyer, session string, s SessionState, now time.Time) (WatchClaims, string, error) {
	if !s.Connected || s.Receiving.IsZero() || now.Sub(s.LastReport) > reportFresh {
		g.m.denied.WithLabelValues("not_receiving").Inc()
		return WatchClaims{}, "", ErrNotReceiving
	}
	c := WatchClaims{Buyer: buyer, Stream: s.Stream, Session: session,
		Since: s.Receiving.Truncate(time.Millisecond), IssuedAt: now.Truncate(time.Millisecond)}
	if c.Since.After(c.IssuedAt) {
		c.Since = c.IssuedAt
	}
	c.Expires = c.IssuedAt.Add(g.cfg.WatchProofTTL)
	tok, err := signWatch(g.watchKeys.signer(), c)
	if err != nil {
		return WatchClaims{}, "", fmt.Errorf("%w", err)
	}
	g.m.issued.WithLabelValues("watch").Inc()
	return c, tok, nil
}

// CarriedSince is the start of the watch time a prior proof of buyer on
// stream proves, when it is valid at now: a viewer whose page moved to a
// sibling edge (its edge drained) presents its last proof, and the new
// session's proof starts where that one did, so the move costs no watch
// time. A proof lapses after watch_proof_ttl, so a gap in watching longer
// than that is not carried over.
func (g *Gate) CarriedSince(prior, buyer, stream string, now time.Time) (time.Time, bool) {
	if prior == "" {
		return time.Time{}, false
	}
	var buf [MaxTokenLen]byte
	f, err := parseWatch(g.watchKeys, prior, &buf)
	if err != nil || now.UnixMilli() > f.exp || string(f.buyer) != buyer || string(f.stream) != stream {
		return time.Time{}, false
	}
	return time.UnixMilli(f.since), true
}
