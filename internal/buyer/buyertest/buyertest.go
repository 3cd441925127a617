// Package buyertest signs buyers in for tests: it mints session tokens
// with a test's secret, one buyer per name, as an edge with the same
// secret would have issued them at sign-in.
package buyertest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer"
)

// Secret is the session secret tests share with the edges they start.
const Secret = "buyertest-session-secret-0123456789"

// Buyers mints one session per buyer name. It is safe for concurrent use.
type Buyers struct {
	s *buyer.Sessions

	mu     sync.Mutex
	byName map[string]minted
}

type minted struct {
	token string
	sess  buyer.Session
}

// New mints sessions signed with secret (Secret when empty), valid for a
// day; tb only fails a bad secret.
func New(tb testing.TB, secret string) *Buyers {
	tb.Helper()
	if secret == "" {
		secret = Secret
	}
	s, err := buyer.NewSessions([]string{secret}, 24*time.Hour, nil, nil)
	if err != nil {
		tb.Fatalf("buyertest: %v", err)
	}
	return &Buyers{s: s, byName: map[string]minted{}}
}

// Sessions verifies what New mints (an edge's verifier in the test).
func (b *Buyers) Sessions() *buyer.Sessions { return b.s }

func (b *Buyers) get(name string) minted {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.byName[name]
	if !ok {
		id, kind := buyer.NewGuestID(), buyer.KindGuest
		if strings.HasPrefix(name, "\x00email:") {
			id, kind = "e-"+id[2:], buyer.KindEmail // an email buyer's id: "e-" and 26 of base32
		}
		tok, sess, err := b.s.Mint(id, fmt.Sprintf("test-device-%x", len(b.byName)), kind)
		if err != nil {
			return minted{} // cannot happen with these ids; the request then gets 401
		}
		m = minted{tok, sess}
		b.byName[name] = m
	}
	return m
}

// Token is the session token of the buyer called name (the same each time).
func (b *Buyers) Token(name string) string { return b.get(name).token }

// ID is the buyer id of the buyer called name.
func (b *Buyers) ID(name string) string { return b.get(name).sess.Buyer }

// Bearer is the Authorization header value of the buyer called name.
func (b *Buyers) Bearer(name string) string { return "Bearer " + b.Token(name) }

// Email is the session of the signed-in (email) buyer called name, one per
// name and apart from the guest of the same name: a wallet needs one.
func (b *Buyers) Email(name string) (token string, sess buyer.Session) {
	m := b.get("\x00email:" + name)
	return m.token, m.sess
}

// EmailBearer is the Authorization header value of the email buyer name.
func (b *Buyers) EmailBearer(name string) string {
	tok, _ := b.Email(name)
	return "Bearer " + tok
}
