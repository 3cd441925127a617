// Package giveaway owns the rules of a seller's giveaway: who may enter
// (the entry rule), the commit-reveal seed (its hash shown at the start,
// the seed revealed at the draw) and the draw, a pure function of the seed,
// the giveaway id and the entrants, so anyone can check the winner.
package giveaway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Entry rules.
const (
	// RulePresent: the entrant is watching the stream now.
	RulePresent = "present"
	// RuleVerified: the entrant is a signed-in (email) buyer.
	RuleVerified = "verified"
	// RuleBuyers: the entrant has bought in this event.
	RuleBuyers = "buyers"
)

// Errors of a giveaway; adapters map them to status codes.
var (
	ErrInvalid     = errors.New("invalid")
	ErrNotEligible = errors.New("not eligible")
	ErrClosed      = errors.New("giveaway closed")
	ErrNoEntrants  = errors.New("no eligible entrants")
)

// SeedLen is the length of a seed in bytes.
const SeedLen = 32

// Entrant is one viewer's entry and the facts the entry rule reads, taken
// by the adapter from the viewer's verified session and watch proof at the
// time of the tap, never from a request body.
type Entrant struct {
	Buyer    string `json:"buyer"`
	Present  bool   `json:"present"`
	Verified bool   `json:"verified"`
	Bought   bool   `json:"bought"`
}

// ValidRule reports whether r is an entry rule.
func ValidRule(r string) bool { return r == RulePresent || r == RuleVerified || r == RuleBuyers }

// Eligible reports whether e may enter under rule. Every rule asks for
// presence: a giveaway is for the people watching; verified and buyers
// add a signed-in buyer and a purchase.
func Eligible(rule string, e Entrant) bool {
	switch rule {
	case RulePresent:
		return e.Present
	case RuleVerified:
		return e.Present && e.Verified
	case RuleBuyers:
		return e.Present && e.Verified && e.Bought
	}
	return false
}

// Commitment is the hex SHA-256 a giveaway shows at its start: it binds
// the seed (revealed at the draw) to the giveaway id.
func Commitment(id string, seed []byte) string {
	h := sha256.New()
	h.Write([]byte("livedrop giveaway commit\x00"))
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(seed)
	return hex.EncodeToString(h.Sum(nil))
}

// Draw picks the winner among entrants (buyer ids, any order, repeats
// ignored) from seed: HMAC-SHA256 keyed by the seed over the id and the
// sorted entrants, read as 64-bit numbers until one falls below the
// largest multiple of the count (no modulo bias). It is what anyone
// checking a giveaway runs; it returns the winner and the sorted list.
func Draw(id string, seed []byte, entrants []string) (string, []string, error) {
	list := slices.Clone(entrants)
	sort.Strings(list)
	list = slices.Compact(list)
	if len(list) == 0 {
		return "", nil, ErrNoEntrants
	}
	n := uint64(len(list))
	limit := (^uint64(0) / n) * n
	for ctr := uint32(0); ; ctr++ {
		m := hmac.New(sha256.New, seed)
		m.Write([]byte("livedrop giveaway draw\x00"))
		m.Write([]byte(id))
		m.Write([]byte{0})
		m.Write([]byte(strings.Join(list, "\n")))
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], ctr)
		m.Write(c[:])
		sum := m.Sum(nil)
		for i := 0; i+8 <= len(sum); i += 8 {
			if v := binary.BigEndian.Uint64(sum[i:]); v < limit {
				return list[v%n], list, nil
			}
		}
	}
}

// Verify reports whether seed is the one committed to and winner is the
// one Draw picks from it (what a viewer checks after the draw).
func Verify(id, commitment string, seed []byte, entrants []string, winner string) bool {
	if Commitment(id, seed) != commitment {
		return false
	}
	w, _, err := Draw(id, seed, entrants)
	return err == nil && w == winner
}

// Info is a giveaway as viewers see it: the seed only after the draw.
type Info struct {
	ID         string    `json:"id"`
	Stream     string    `json:"stream"`
	Prize      string    `json:"prize"`
	Rule       string    `json:"rule"`
	Commitment string    `json:"commitment"`
	StartedAt  time.Time `json:"started_at"`
	Entrants   int       `json:"entrants"`
	// After the draw: the seed (hex), the sorted entrants and the winner.
	Seed       string   `json:"seed,omitempty"`
	EntrantIDs []string `json:"entrant_ids,omitempty"`
	Winner     string   `json:"winner,omitempty"`
}

// Giveaway is one giveaway's state, safe for concurrent use.
type Giveaway struct {
	mu      sync.Mutex
	info    Info
	seed    []byte
	entered map[string]bool
}

// Start opens a giveaway with a fresh seed from random (crypto/rand's
// Reader in production); its commitment is shown from now on.
func Start(id, stream, prize, rule string, now time.Time, random io.Reader) (*Giveaway, error) {
	if err := checkStart(id, stream, prize, rule); err != nil {
		return nil, err
	}
	seed := make([]byte, SeedLen)
	if _, err := io.ReadFull(random, seed); err != nil {
		return nil, fmt.Errorf("giveaway seed: %w", err)
	}
	return &Giveaway{info: Info{ID: id, Stream: stream, Prize: prize, Rule: rule, Commitment: Commitment(id, seed), StartedAt: now.UTC()},
		seed: seed, entered: map[string]bool{}}, nil
}

// checkStart refuses a giveaway's bad start parameters with ErrInvalid.
func checkStart(id, stream, prize, rule string) error {
	switch {
	case id == "" || len(id) > 64 || stream == "" || len(stream) > 64:
		return fmt.Errorf("%w: id and stream must be 1-64 characters", ErrInvalid)
	case len(prize) > 200:
		return fmt.Errorf("%w: prize longer than 200", ErrInvalid)
	case !printable(prize):
		return fmt.Errorf("%w: prize must be printable UTF-8 (it is shown on the stream)", ErrInvalid)
	case !ValidRule(rule):
		return fmt.Errorf("%w: rule must be %s, %s or %s", ErrInvalid, RulePresent, RuleVerified, RuleBuyers)
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Enter enters e if the rule lets it; entering twice is one entry.
func (g *Giveaway) Enter(e Entrant) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.info.Winner != "":
		return ErrClosed
	case e.Buyer == "":
		return fmt.Errorf("%w: no buyer", ErrInvalid)
	case !Eligible(g.info.Rule, e):
		return fmt.Errorf("%w: this giveaway is for %s", ErrNotEligible, g.info.Rule)
	}
	g.entered[e.Buyer] = true
	return nil
}

// Draw draws the winner once and reveals the seed; a second call returns
// the same result.
func (g *Giveaway) Draw() (Info, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.info.Winner != "" {
		return g.snapshot(), nil
	}
	ids := make([]string, 0, len(g.entered))
	for b := range g.entered {
		ids = append(ids, b)
	}
	w, list, err := Draw(g.info.ID, g.seed, ids)
	if err != nil {
		return Info{}, err
	}
	g.info.Winner, g.info.EntrantIDs, g.info.Seed = w, list, hex.EncodeToString(g.seed)
	return g.snapshot(), nil
}

// Info is the giveaway as viewers see it now.
func (g *Giveaway) Info() Info {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.snapshot()
}

func (g *Giveaway) snapshot() Info {
	i := g.info
	i.Entrants = len(g.entered)
	i.EntrantIDs = slices.Clone(i.EntrantIDs)
	return i
}
