package proof

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkCheckOrder is the gate's cost per order of a drop that asks for
// both proofs (watch time and proof of work): two MAC checks, one sha256,
// the replay cache.
func BenchmarkCheckOrder(b *testing.B) {
	cfg := Defaults()
	cfg.PoWBaseBits = 4
	cfg.ReplayCapacity = 100_000_000
	g, _ := newGate(b, cfg, secretA, secretB)
	_, w, _ := g.IssueWatch("buyer-0123456789", "0123456789abcdef0123456789abcdef", receiving("live", t0.Add(-time.Minute), t0), t0)
	sols := make([]string, 4096)
	for i := range sols {
		sols[i] = solve(b, g, "buyer-0123456789", t0)
	}
	ids := make([]string, len(sols))
	for i := range ids {
		ids[i] = "drop." + strconv.Itoa(i)
	}
	p := Policy{WatchSeconds: 30, ProofOfWork: true}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		j := i % len(sols) // past 4096 a retry of the same order: same work
		if err := g.Check(p, Order{Stream: "live", Buyer: "buyer-0123456789", OrderID: ids[j], WatchProof: w, PoW: sols[j]}, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckWatch is a drop that asks for watch time only.
func BenchmarkCheckWatch(b *testing.B) {
	g, _ := newGate(b, Defaults(), secretA)
	_, w, _ := g.IssueWatch("buyer-0123456789", "0123456789abcdef0123456789abcdef", receiving("live", t0.Add(-time.Minute), t0), t0)
	p := Policy{WatchSeconds: 30}
	o := Order{Stream: "live", Buyer: "buyer-0123456789", OrderID: "d.1", WatchProof: w}
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Check(p, o, t0); err != nil {
			b.Fatal(err)
		}
	}
}
