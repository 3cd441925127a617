package proof

import (
	"testing"
	"time"
)

// FuzzProofParse feeds outside input to both proofs' parsers and the order
// check: nothing panics, and nothing but a token this node signed passes.
func FuzzProofParse(f *testing.F) {
	cfg := Defaults()
	cfg.PoWBaseBits = 1
	g, _ := newGate(f, cfg, secretA)
	_, w, _ := g.IssueWatch("ann", "sess", receiving("live", t0.Add(-time.Minute), t0), t0)
	c, _ := g.IssueChallenge("ann", t0)
	f.Add(w, c.Token+".0")
	f.Add("", "")
	f.Add("AQ", ".")
	f.Add(w[:len(w)-1], c.Token+".18446744073709551616")
	f.Fuzz(func(t *testing.T, watch, pow string) {
		_, _ = g.ParseWatch(watch)
		err := g.Check(Policy{WatchSeconds: 1, ProofOfWork: true}, Order{Stream: "live", Buyer: "ann", OrderID: pow, WatchProof: watch, PoW: pow}, t0)
		if err == nil && watch != w {
			// Another encoding of the same bytes is the same proof; a
			// different proof must not pass.
			if c1, err1 := g.ParseWatch(watch); err1 != nil || c1.Session != "sess" {
				t.Fatalf("unsigned watch proof %q passed", watch)
			}
		}
	})
}
