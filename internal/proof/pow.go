package proof

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Challenge is a proof-of-work puzzle: find a nonce such that
// sha256(seed || nonce as 8 bytes big-endian) starts with Bits zero bits.
// Token carries it signed; the page sends back Token + "." + nonce.
type Challenge struct {
	Token   string
	Seed    [16]byte
	Bits    int
	Buyer   string
	Expires time.Time
}

// SeedHex is the seed as the page takes it.
func (c Challenge) SeedHex() string { return hex.EncodeToString(c.Seed[:]) }

// Proof-of-work failures.
var (
	ErrPoWExpired    = errors.New("proof-of-work challenge expired")
	ErrPoWOtherBuyer = errors.New("proof-of-work challenge is another buyer's")
	ErrPoWWrong      = errors.New("proof-of-work solution does not solve the challenge")
	ErrPoWReplayed   = errors.New("proof-of-work solution already used")
	ErrPoWBusy       = errors.New("too many proof-of-work solutions in flight: try again in a moment")
	ErrPoWTooEasy    = errors.New("proof-of-work challenge too easy for the current load")
)

func signChallenge(k *key, c Challenge) (string, error) {
	if len(c.Buyer) == 0 || len(c.Buyer) > maxField {
		return "", errors.New("challenge: buyer empty or too long")
	}
	var buf [MaxTokenLen]byte
	b := header(buf[:0], kindPoW, k)
	b = append(b, c.Seed[:]...)
	b = append(b, byte(c.Bits))
	b = putInt64(b, c.Expires.UnixMilli())
	b = putStr(b, c.Buyer)
	return seal(k, b), nil
}

type powFields struct {
	seed  [16]byte
	bits  int
	exp   int64
	buyer []byte
}

func parseChallenge(r keyring, tok string, buf *[MaxTokenLen]byte) (powFields, error) {
	body, err := open(r, kindPoW, tok, buf)
	if err != nil {
		return powFields{}, err
	}
	rd := reader{b: body}
	var f powFields
	copy(f.seed[:], rd.bytes(16))
	f.bits = int(rd.byte())
	f.exp = rd.int64()
	f.buyer = rd.str()
	if rd.bad || len(rd.b) != 0 || f.bits < 1 || f.bits > HardMaxBits {
		return powFields{}, errMalformed
	}
	return f, nil
}

// splitSolution cuts "token.nonce" (base64url has no '.').
func splitSolution(sol string) (tok string, nonce uint64, err error) {
	i := strings.LastIndexByte(sol, '.')
	if i <= 0 || len(sol)-i-1 > 20 {
		return "", 0, errMalformed
	}
	nonce, err = strconv.ParseUint(sol[i+1:], 10, 64)
	if err != nil {
		return "", 0, errMalformed
	}
	return sol[:i], nonce, nil
}

// leadingZeros counts the zero bits at the start of sha256(seed || nonce).
func leadingZeros(seed *[16]byte, nonce uint64) int {
	var msg [24]byte
	copy(msg[:], seed[:])
	binary.BigEndian.PutUint64(msg[16:], nonce)
	sum := sha256.Sum256(msg[:])
	n := 0
	for i := 0; i < len(sum); i += 8 {
		w := binary.BigEndian.Uint64(sum[i:])
		if w != 0 {
			return n + bits.LeadingZeros64(w)
		}
		n += 64
	}
	return n
}

// Solve finds a nonce for seed at bits (for tests, tools and load
// generators; the page solves in a Web Worker).
func Solve(seed [16]byte, nbits int) uint64 {
	for n := uint64(0); ; n++ {
		if leadingZeros(&seed, n) >= nbits {
			return n
		}
	}
}

// IssueChallenge makes a challenge for buyer at the current difficulty.
func (g *Gate) IssueChallenge(buyer string, now time.Time) (Challenge, error) {
	c := Challenge{Bits: g.Difficulty(now), Buyer: buyer, Expires: now.Add(g.cfg.ChallengeTTL).Truncate(time.Millisecond)}
	if _, err := rand.Read(c.Seed[:]); err != nil {
		return Challenge{}, err
	}
	tok, err := signChallenge(g.powKeys.signer(), c)
	if err != nil {
		return Challenge{}, err
	}
	c.Token = tok
	g.m.issued.WithLabelValues("pow").Inc()
	return c, nil
}

// easySlack is how many bits below the current difficulty a challenge may
// be and still count (one: a page that solved just before the load rose).
const easySlack = 1

// verifyPoW checks solution for buyer at now and spends it on orderRef: the
// same solution presented again for the same order (a retry) passes, for
// any other order it is a replay.
func (g *Gate) verifyPoW(solution, buyer string, orderRef uint64, now time.Time) error {
	tok, nonce, err := splitSolution(solution)
	if err != nil {
		return err
	}
	var buf [MaxTokenLen]byte
	f, err := parseChallenge(g.powKeys, tok, &buf)
	if err != nil {
		return err
	}
	switch {
	case now.UnixMilli() > f.exp:
		return ErrPoWExpired
	case string(f.buyer) != buyer:
		return ErrPoWOtherBuyer
	case leadingZeros(&f.seed, nonce) < f.bits:
		return ErrPoWWrong
	case f.bits < g.diff.bits(now)-easySlack:
		// Challenges stockpiled while the edge was calm buy nothing in a
		// rush: the page solves a fresh one.
		return ErrPoWTooEasy
	}
	return g.replay.spend(f.seed, orderRef, time.UnixMilli(f.exp), now)
}
