package checkout

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/internal/redistest"
)

// BenchmarkRedisCommandsPerOrder counts the Redis commands the store runs
// per accepted order, for capacity planning (docs/capacity.md): one edge
// selling from leases, its background sync included, until every order is
// shipped. Redis counts them itself (INFO stats total_commands_processed).
//
//	go test -run '^$' -bench RedisCommandsPerOrder -benchtime 20000x ./checkout/
func BenchmarkRedisCommandsPerOrder(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	store, err := OpenRedisStore(context.Background(), srv.URL(), testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	probe := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer probe.Close()
	ctx := context.Background()
	// commands is every command Redis ran (those inside scripts too);
	// scripts is the script calls, each one round trip of the edge.
	commands := func() (all, scripts int64) {
		info, err := probe.Info(ctx, "stats", "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
				all, _ = strconv.ParseInt(v, 10, 64)
			}
			for _, name := range []string{"cmdstat_evalsha:calls=", "cmdstat_eval:calls="} {
				if v, ok := strings.CutPrefix(line, name); ok {
					v, _, _ = strings.Cut(v, ",")
					n, _ := strconv.ParseInt(v, 10, 64)
					scripts += n
				}
			}
		}
		return all, scripts
	}
	cfg := Defaults()
	cfg.RateLimitPerBuyer = 0
	drop := fmt.Sprintf("ops%d", benchSeq.Add(1))
	e := benchEdge(b, store, cfg, Drop{ID: drop, Stream: "s", SKUs: []SKU{{SKU: "tee", PriceCents: 100, Currency: "EUR", Stock: MaxStock}}}, "ops")
	var seq atomic.Int64
	allBefore, scriptsBefore := commands()
	start := time.Now()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			buyer := "b" + strconv.FormatInt(seq.Add(1), 10)
			if _, err := e.PlaceOrder(ctx, OrderRequest{Drop: drop, SKU: "tee", Qty: 1, Buyer: buyer, IdempotencyKey: buyer}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	deadline := time.Now().Add(30 * time.Second)
	for mustTotals(b, store, drop).Orders < int(seq.Load()) {
		if time.Now().After(deadline) {
			b.Fatalf("the store has %d of %d orders after 30 s", mustTotals(b, store, drop).Orders, seq.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	// The probe's own INFO calls and the totals reads are a handful.
	all, scripts := commands()
	n := float64(seq.Load())
	b.ReportMetric(float64(all-allBefore)/n, "redis-cmds/order")
	b.ReportMetric(float64(scripts-scriptsBefore)/n, "scripts/order")
	b.ReportMetric(float64(all-allBefore)/elapsed.Seconds(), "redis-cmds/s")
}
