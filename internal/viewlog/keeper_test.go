package viewlog

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/internal/kpi"
	"github.com/livedrop/livedrop/internal/redistest"
)

func keeperOn(t *testing.T, b *Book, rdb redis.UniversalClient, grace time.Duration) *Keeper {
	t.Helper()
	k, err := NewKeeper(KeeperParams{Book: b, Log: NewRedisLog(rdb, 0), Logger: slog.New(slog.DiscardHandler),
		Every: 10 * time.Millisecond, Grace: grace, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKeeperHistoryOutlivesTheBook: what one origin's book saw is in a
// new book after a restart (the report's figures are the same), a log
// written twice is kept once, the open session is open again until its
// edge says it or the grace ends it, and saving goes on after the restore.
func TestKeeperHistoryOutlivesTheBook(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	now := time.Unix(10_000, 0)
	first := newBook(t, 0, &now)
	first.Add("cam", "edge-a", []Event{ev("s1", "ann", "qr", true, 100), ev("s2", "bob", "social", true, 110), ev("s2", "bob", "social", false, 200)})
	k1 := keeperOn(t, first, rdb, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k1.Run(ctx) }()
	waitUntil(t, "three events saved", func() bool { return testutil.ToFloat64(k1.saved.WithLabelValues("ok")) == 3 })
	first.Add("cam", "edge-a", []Event{ev("s3", "cid", "direct", true, 300)})
	cancel() // the last event is saved as the keeper stops
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The same events again (a second origin on the same Redis).
	if err := NewRedisLog(rdb, 0).Append(context.Background(), "cam", []Event{ev("s1", "ann", "qr", true, 100)}); err != nil {
		t.Fatal(err)
	}

	second := newBook(t, 0, &now)
	k2 := keeperOn(t, second, rdb, 200*time.Millisecond)
	if err := k2.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	figures := func(b *Book) kpi.Figures {
		v, _ := b.Views("cam")
		return kpi.Compute(kpi.Events{Views: v}, time.Unix(0, 0), now)
	}
	want, got := figures(first), figures(second)
	if got.UniqueViewers != 3 || got.PeakConcurrent != want.PeakConcurrent || got.CurrentConcurrent != 2 || got.WatchSeconds != want.WatchSeconds {
		t.Fatalf("restored figures %+v, want those before the restart %+v", got, want)
	}
	// ann's edge says her session again: it is the edge's now; cid's edge
	// never does, so the grace ends it.
	second.Add("cam", "edge-a", []Event{ev("s1", "ann", "qr", true, 100)})
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- k2.Run(ctx) }()
	waitUntil(t, "the unclaimed session ended after the grace", func() bool { return len(second.Open("cam")) == 1 })
	if open := second.Open("cam"); open[0].Viewer != "ann" {
		t.Fatalf("open after the grace: %+v, want ann's", open)
	}
	waitUntil(t, "the grace's leave saved", func() bool { return testutil.ToFloat64(k2.saved.WithLabelValues("ok")) == 1 })
	cancel()
	<-done
	third := newBook(t, 0, &now)
	if err := keeperOn(t, third, rdb, time.Hour).Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if open := third.Open("cam"); len(open) != 1 || open[0].Viewer != "ann" {
		t.Fatalf("open after a second restart: %+v, want ann's only", open)
	}
}

// TestKeeperRetriesAfterRedisIsBack: events the store could not take are
// saved once it is back, none twice.
func TestKeeperRetriesAfterRedisIsBack(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer rdb.Close()
	now := time.Unix(10_000, 0)
	b := newBook(t, 0, &now)
	k := keeperOn(t, b, rdb, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	srv.Stop()
	b.Add("cam", "edge-a", []Event{ev("s1", "ann", "qr", true, 100)})
	waitUntil(t, "a failed save", func() bool { return testutil.ToFloat64(k.saved.WithLabelValues("error")) > 0 })
	srv.Restart()
	waitUntil(t, "the event saved", func() bool { return testutil.ToFloat64(k.saved.WithLabelValues("ok")) == 1 })
	cancel()
	<-done
	n, err := rdb.LLen(context.Background(), redisViewsKey("cam")).Result()
	if err != nil || n != 1 {
		t.Fatalf("events in Redis: %d (%v), want 1", n, err)
	}
}
