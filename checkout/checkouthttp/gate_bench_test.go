package checkouthttp

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/proof"
	"github.com/livedrop/livedrop/internal/redistest"
)

// BenchmarkGatedOrder is order acceptance through the HTTP handler at one
// edge, selling from its lease (journal, group commit), for a drop without
// a gate and for one asking watch time and a proof of work, each with the
// journal as it was (fsync of a growing file: "fsync") and preallocated
// (fdatasync into zeroed room: "prealloc"), in one run; -count=N runs the
// four in turn N times (A/B interleaved on a shared machine):
//
//	go test -run '^$' -bench GatedOrder -benchmem -count=5 ./checkout/checkouthttp/
//
// p50/p99 are per order, with parallel concurrent buyers per core, each
// placing its next order when the last is answered (closed loop). Also
// reported, for the timed orders: the journal's mean fsync and records per
// fsync, and the share of orders sold directly against the store (not from
// the lease).
func BenchmarkGatedOrder(b *testing.B) {
	for _, gated := range []bool{false, true} {
		name := "ungated"
		if gated {
			name = "watch+pow"
		}
		for _, jm := range []struct {
			name     string
			prealloc int64
		}{{"fsync", 0}, {"prealloc", checkout.Defaults().JournalPreallocBytes}} {
			benchGatedOrder(b, name+"/"+jm.name, gated, jm.prealloc)
		}
	}
}

func benchGatedOrder(b *testing.B, name string, gated bool, prealloc int64) {
	const parallel = 1
	b.Run(name, func(b *testing.B) {
		rig := newGatedRig(b, gated, prealloc)
		var (
			mu   sync.Mutex
			lats = make([]time.Duration, 0, b.N)
			seq  atomic.Int64
		)
		before := gatherStages(b, rig.reg)
		b.SetParallelism(parallel)
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			local := make([]time.Duration, 0, 1024)
			for pb.Next() {
				d, ok := rig.serve(b, int(seq.Add(1)-1))
				if !ok {
					return
				}
				local = append(local, d)
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		})
		elapsed := time.Since(start)
		b.StopTimer()
		rig.report(b, before, lats, elapsed)
	})
}

// BenchmarkOpenLoopOrder is BenchmarkGatedOrder's gated, preallocated edge
// under an open loop: orders arrive at a set rate (Poisson arrivals, each
// on its own goroutine, whether or not earlier ones were answered), so its
// p50/p99 are acceptance latency at that load, not at the closed loop's
// saturation (a closed loop of 2 buyers keeps the journal fsyncing back to
// back, and each order waits for the other's fsync and then its own):
//
//	go test -run '^$' -bench OpenLoopOrder -benchmem -benchtime=3000x ./checkout/checkouthttp/
//
// "late-µs" is the p99 of how late the load generator sent an order after
// its arrival time (its own timer and scheduling, not the edge's).
func BenchmarkOpenLoopOrder(b *testing.B) {
	for _, rate := range []int{250, 500, 1000} {
		b.Run(strconv.Itoa(rate)+"/s", func(b *testing.B) {
			rig := newGatedRig(b, true, checkout.Defaults().JournalPreallocBytes)
			rng := rand.New(rand.NewPCG(uint64(rate), 7))
			lats := make([]time.Duration, b.N)
			late := make([]time.Duration, b.N)
			before := gatherStages(b, rig.reg)
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			at := start
			for i := range b.N {
				at = at.Add(time.Duration(rng.ExpFloat64() / float64(rate) * float64(time.Second)))
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				wg.Add(1)
				arrive := at
				go func() {
					defer wg.Done()
					late[i] = time.Since(arrive)
					lats[i], _ = rig.serve(b, i)
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(late)
			b.ReportMetric(float64(late[len(late)*99/100].Microseconds()), "late-µs")
			rig.report(b, before, lats, elapsed)
		})
	}
}

// gatedRig is one edge selling one drop from its lease through the HTTP
// handler, with a Redis of its own and b.N requests made ahead.
type gatedRig struct {
	reg  *prometheus.Registry
	mux  *http.ServeMux
	reqs []*http.Request
}

func newGatedRig(b *testing.B, gated bool, prealloc int64) *gatedRig {
	log := slog.New(slog.DiscardHandler)
	// A Redis of its own: the drops of earlier runs would lengthen this
	// edge's syncs (one round trip per drop) and so its refills. Its
	// append-only file goes on tmpfs where there is one: in production
	// Redis runs on its own machine, and its fsyncs (appendfsync always)
	// on this disk were a third of the device's flushes during a run and
	// lengthened the edge's own (measured in docs/order-latency.md).
	srv := redistest.Start(b, redistest.Options{AppendOnly: true, AppendFsync: "always", Dir: redistest.TmpfsDir()})
	st, err := checkout.OpenRedisStore(context.Background(), srv.URL(), log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg := checkout.Defaults()
	cfg.RateLimitPerBuyer = 0
	cfg.LeaseMin, cfg.LeaseMax = 2000, 20000
	cfg.JournalPreallocBytes = prealloc
	ctx := context.Background()
	drop := "gb" + strconv.FormatInt(time.Now().UnixNano(), 36)
	d := checkout.Drop{ID: drop, Stream: "live", SKUs: []checkout.SKU{{SKU: "tee", PriceCents: 100, Currency: "EUR", Stock: checkout.MaxStock}}}
	if gated {
		d.Gate = checkout.Gate{WatchSeconds: 30, ProofOfWork: true}
	}
	if err := st.CreateDrop(ctx, d); err != nil {
		b.Fatal(err)
	}
	if err := st.SetState(ctx, drop, checkout.StateOpen); err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e := benchEdge(b, ctx, log, reg, cfg, st)
	deadline := time.Now().Add(10 * time.Second)
	// The lease itself, not only the store's view (left): orders placed
	// before the first grant go direct and were timed as such.
	for leaseUnits(b, reg, drop) < float64(cfg.LeaseMin) {
		if time.Now().After(deadline) {
			b.Fatal("no lease")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pcfg := proof.Defaults()
	pcfg.PoWBaseBits, pcfg.PoWMaxBits = 4, 4 // verification costs the same at any difficulty
	gate, err := proof.New(proof.Params{Config: pcfg, NodeSecrets: []string{"bench-node-secret-0123"}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	tokens, _ := NewOrderTokens([]byte("order-token-key-0123456789"))
	buyers := buyertest.New(b, "")
	api, err := NewEdgeAPI(EdgeParams{Edge: e, Tokens: tokens, Sessions: buyers.Sessions(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	api.SetGate(gate)
	mux := http.NewServeMux()
	api.RegisterOrders(mux)

	// The requests and their proofs are made before the clock starts, as
	// a page makes its proofs before the tap.
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		name := "b" + strconv.Itoa(i)
		buyer := buyers.ID(name)
		req := httptest.NewRequest("POST", "/v1/drops/"+drop+"/orders", strings.NewReader(`{"sku":"tee","qty":1}`))
		req.Header.Set("Idempotency-Key", name)
		req.Header.Set("Authorization", buyers.Bearer(name))
		if gated {
			now := time.Now()
			_, w, err := gate.IssueWatch(buyer, "s-"+buyer, proof.SessionState{Stream: "live", Connected: true,
				Receiving: now.Add(-time.Minute), LastReport: now}, now)
			if err != nil {
				b.Fatal(err)
			}
			c, _ := gate.IssueChallenge(buyer, now)
			req.Header.Set(WatchProofHeader, w)
			req.Header.Set(PoWHeader, c.Token+"."+strconv.FormatUint(proof.Solve(c.Seed, c.Bits), 10))
		}
		reqs[i] = req
	}
	return &gatedRig{reg: reg, mux: mux, reqs: reqs}
}

// serve places order i and returns how long its answer took; a refusal
// fails the benchmark.
func (r *gatedRig) serve(b *testing.B, i int) (time.Duration, bool) {
	rec := httptest.NewRecorder()
	t0 := time.Now()
	r.mux.ServeHTTP(rec, r.reqs[i])
	d := time.Since(t0)
	if rec.Code != http.StatusCreated {
		b.Errorf("order: %d %s", rec.Code, rec.Body)
		return d, false
	}
	return d, true
}

// report adds the figures of the timed orders: their p50/p99 and rate, and
// the journal's mean fsync, records per fsync and the share sold direct.
func (r *gatedRig) report(b *testing.B, before stages, lats []time.Duration, elapsed time.Duration) {
	after := gatherStages(b, r.reg)
	if n := after.fsyncs - before.fsyncs; n > 0 {
		b.ReportMetric((after.fsyncSec-before.fsyncSec)/n*1e6, "fsync-µs")
		b.ReportMetric((after.records-before.records)/n, "records/fsync")
	}
	if n := after.accepted - before.accepted; n > 0 {
		b.ReportMetric((after.direct-before.direct)/n*100, "direct-%")
	}
	slices.Sort(lats)
	if len(lats) > 0 {
		b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "orders/s")
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
	}
}

// stages are the edge's counts behind BenchmarkGatedOrder's stage figures.
type stages struct {
	fsyncs, fsyncSec, records float64 // journal fsyncs, their seconds, records they covered
	accepted, direct          float64 // orders accepted, of them sold directly against the store
}

func gatherStages(b *testing.B, reg *prometheus.Registry) stages {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var s stages
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			switch mf.GetName() {
			case "livedrop_checkout_journal_fsync_seconds":
				s.fsyncs, s.fsyncSec = float64(h.GetSampleCount()), h.GetSampleSum()
			case "livedrop_checkout_journal_batch_size":
				s.records = h.GetSampleSum()
			case "livedrop_checkout_accept_latency_seconds":
				s.accepted += float64(h.GetSampleCount())
				for _, l := range m.GetLabel() {
					if l.GetName() == "path" && l.GetValue() == "direct" {
						s.direct += float64(h.GetSampleCount())
					}
				}
			}
		}
	}
	return s
}

// leaseUnits is the edge's unsold lease units for drop.
func leaseUnits(b *testing.B, reg *prometheus.Registry, drop string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "livedrop_checkout_lease_units" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "drop" && l.GetValue() == drop {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}
