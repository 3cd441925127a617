package viewlog

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newBook(t *testing.T, max int, now *time.Time) *Book {
	t.Helper()
	b, err := New(Params{Max: max, Now: func() time.Time { return *now }, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ev(session, viewer, ch string, join bool, atS int64) Event {
	return Event{Session: session, Viewer: viewer, Channel: ch, Region: "eu", Join: join, AtMS: atS * 1000}
}

// TestBookPairsJoinsAndLeaves: a repeated join, a leave without its join
// and an invalid event are not kept; a leave carries its join's viewer.
func TestBookPairsJoinsAndLeaves(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBook(t, 0, &now)
	b.Add("s", "", []Event{
		ev("s1", "ann", "qr", true, 10),
		ev("s1", "ann", "qr", true, 11),      // again: nothing
		ev("s2", "bob", "social", false, 12), // no join: nothing
		{Session: "bad id!", Viewer: "x", Channel: "qr", Join: true, AtMS: 1},
		{Session: "s1", Viewer: "", Channel: "", AtMS: 20 * 1000}, // invalid (no viewer)
		ev("s1", "someone", "direct", false, 20),
	})
	views, v := b.Views("s")
	if len(views) != 2 || v != 2 || !views[0].Join || views[1].Join || views[1].Viewer != "ann" || views[1].Channel != "qr" {
		t.Fatalf("views %+v version %d", views, v)
	}
	if got := testutil.ToFloat64(b.m.dropped.WithLabelValues("invalid")); got != 2 {
		t.Errorf("invalid dropped %v, want 2", got)
	}
	// 10 s watched.
	if got := testutil.CollectAndCount(b.m.watch); got != 1 {
		t.Errorf("watch histogram series %d", got)
	}
}

// TestBookNodeGoneAndResync: the sessions a node left open end when it
// goes; its joins said again by a new connection reopen them from then.
func TestBookNodeGoneAndResync(t *testing.T) {
	now := time.Unix(100, 0)
	b := newBook(t, 0, &now)
	b.Add("s", "edge-a", []Event{ev("s1", "ann", "qr", true, 10), ev("s2", "bob", "qr", true, 20)})
	b.Add("s", "edge-a", []Event{ev("s2", "bob", "qr", false, 30)})
	b.NodeGone("s", "edge-a")                                      // at 100: s1 ends
	b.Add("s", "edge-b", []Event{ev("s1", "ann", "qr", true, 10)}) // resync after reconnect
	views, _ := b.Views("s")
	want := []struct {
		session string
		join    bool
		at      int64
	}{{"s1", true, 10}, {"s2", true, 20}, {"s2", false, 30}, {"s1", false, 100}, {"s1", true, 100}}
	if len(views) != len(want) {
		t.Fatalf("views %+v", views)
	}
	for i, w := range want {
		if views[i].Session != w.session || views[i].Join != w.join || views[i].At.Unix() != w.at {
			t.Errorf("view %d: %+v, want %+v", i, views[i], w)
		}
	}
	if open := b.Open("s"); len(open) != 1 || open[0].Session != "s1" {
		t.Errorf("open %+v", open)
	}
}

// TestBookBoundedQueue: past Max, joins are dropped and counted; Take
// empties the queue oldest first and makes room.
func TestBookBoundedQueue(t *testing.T) {
	now := time.Unix(100, 0)
	b := newBook(t, 2, &now)
	b.Add("s", "", []Event{ev("s1", "a", "qr", true, 1), ev("s2", "b", "qr", true, 2), ev("s3", "c", "qr", true, 3)})
	if got := testutil.ToFloat64(b.m.dropped.WithLabelValues("full")); got != 1 {
		t.Errorf("full dropped %v, want 1", got)
	}
	got := b.Take("s", 1)
	if len(got) != 1 || got[0].Session != "s1" {
		t.Fatalf("take %+v", got)
	}
	b.Add("s", "", []Event{ev("s3", "c", "qr", true, 4)})
	if rest := b.Take("s", 10); len(rest) != 2 || rest[0].Session != "s2" || rest[1].Session != "s3" {
		t.Fatalf("rest %+v", rest)
	}
	// A clock ahead of the book's is brought back to now.
	b.Add("s", "", []Event{ev("s4", "d", "qr", true, 500)})
	if e := b.Take("s", 1); len(e) != 1 || e[0].AtMS != 100_000 {
		t.Fatalf("future event %+v", e)
	}
}

// TestBookViewsIncremental: Views converts only what is new, and what it
// returned before is not changed by later events.
func TestBookViewsIncremental(t *testing.T) {
	now := time.Unix(100, 0)
	b := newBook(t, 0, &now)
	b.Add("s", "", []Event{ev("s1", "a", "qr", true, 1)})
	first, v1 := b.Views("s")
	b.Add("s", "", []Event{ev("s1", "a", "qr", false, 5), ev("s2", "b", "social", true, 6)})
	second, v2 := b.Views("s")
	if len(first) != 1 || len(second) != 3 || v2 != v1+2 || second[0] != first[0] || second[2].Channel != "social" {
		t.Fatalf("first %+v (v%d), second %+v (v%d)", first, v1, second, v2)
	}
}
