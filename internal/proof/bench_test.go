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
	cfg.PoWBaseBits, cfg.PoWMaxBits = 4, 4 // verification costs the same at any difficulty
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

// TestCheckAllocations holds the gate's allocation budget per order: a
// watch proof checked in 2 allocations, both proofs (a retry: the
// challenge already spent on this order) in 4.
func TestCheckAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations; make test runs this without -race")
	}
	cfg := Defaults()
	cfg.PoWBaseBits, cfg.PoWMaxBits = 4, 4 // verification costs the same at any difficulty
	g, _ := newGate(t, cfg, secretA)
	_, w, _ := g.IssueWatch("buyer-1", "0123456789abcdef0123456789abcdef", receiving("live", t0.Add(-time.Minute), t0), t0)
	sol := solve(t, g, "buyer-1", t0)
	watch := Order{Stream: "live", Buyer: "buyer-1", OrderID: "d.1", WatchProof: w}
	both := watch
	both.PoW = sol
	if err := g.Check(Policy{WatchSeconds: 30, ProofOfWork: true}, both, t0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		p      Policy
		o      Order
		budget float64
	}{
		{"watch", Policy{WatchSeconds: 30}, watch, 2},
		{"watch+pow", Policy{WatchSeconds: 30, ProofOfWork: true}, both, 4},
	} {
		n := testing.AllocsPerRun(200, func() {
			if err := g.Check(tc.p, tc.o, t0); err != nil {
				t.Fatal(err)
			}
		})
		if n > tc.budget {
			t.Errorf("%s: %v allocations per order, budget %v", tc.name, n, tc.budget)
		}
	}
}
