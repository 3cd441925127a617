package overlay

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/internal/redistest"
)

// sharedOrigin is an origin hub sharing its boards through rdb, running
// until the test ends (or until stop).
func sharedOrigin(t *testing.T, drops DropSource, rdb redis.UniversalClient) (*OriginHub, context.CancelFunc) {
	t.Helper()
	h, err := NewOriginHub(OriginParams{Registerer: prometheus.NewRegistry(), Config: testConfig(), Drops: drops,
		MediaClock: newMediaClock(1000).now, Boards: NewRedisBoards(rdb)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return h, stop
}

func redisClient(t *testing.T, s *redistest.Server) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func ids(os []Overlay) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.ID + ":" + o.Kind + ":" + o.SKU
	}
	return out
}

func sameBoards(a, b []Overlay) bool {
	x, y := ids(a), ids(b)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// TestSharedBoardsStandbyShowsThePins: what the seller pins on one origin
// the standby shows too, with the same ids, and tells its subscribers
// (edges) with a fresh state; an unpin on either is seen by the other.
func TestSharedBoardsStandbyShowsThePins(t *testing.T) {
	rdb := redisClient(t, redistest.Start(t, redistest.Options{}))
	drops := memStore(t)
	active, _ := sharedOrigin(t, drops, rdb)
	standby, _ := sharedOrigin(t, drops, rdb)
	ch, cancel := standby.Subscribe("cam1")
	defer cancel()
	if m := recv(t, ch); m.Type != TypeState || len(m.Overlays) != 0 {
		t.Fatalf("first message %+v, want an empty state", m)
	}
	ctx := context.Background()
	card, err := active.Show(ctx, "cam1", Request{Type: KindProduct, Drop: "d1", SKU: "tee"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := active.Show(ctx, "cam1", Request{Type: KindCountdown, Label: "Drop opens in", Seconds: 60}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the standby to show the active origin's pins", func() bool {
		return sameBoards(standby.List("cam1"), active.List("cam1"))
	})
	m := recvType(t, ch, TypeState)
	for len(m.Overlays) < 2 {
		m = recvType(t, ch, TypeState)
	}
	if m.Overlays[0].ID != card.ID || m.Overlays[0].Name != "Tee" || m.Overlays[0].StockLeft != 100 {
		t.Fatalf("the standby's subscribers got %+v, want the tee card %s first", m.Overlays, card.ID)
	}
	if err := standby.Hide("cam1", card.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the active origin to drop the card unpinned on the standby", func() bool {
		l := active.List("cam1")
		return len(l) == 1 && l[0].Kind == KindCountdown
	})
}

// TestSharedBoardsConcurrentPins: two origins pinning at once keep both
// pins, under different ids.
func TestSharedBoardsConcurrentPins(t *testing.T) {
	rdb := redisClient(t, redistest.Start(t, redistest.Options{}))
	drops := memStore(t)
	a, _ := sharedOrigin(t, drops, rdb)
	b, _ := sharedOrigin(t, drops, rdb)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, x := range []struct {
		h   *OriginHub
		sku string
	}{{a, "tee"}, {b, "cap"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := x.h.Show(context.Background(), "cam1", Request{Type: KindProduct, Drop: "d1", SKU: x.sku})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both origins to show both cards", func() bool {
		la, lb := a.List("cam1"), b.List("cam1")
		return len(la) == 2 && sameBoards(la, lb) && la[0].ID != la[1].ID
	})
}

// TestSharedBoardsSurviveARestart: an origin started again shows the pins
// made before, before it is asked anything.
func TestSharedBoardsSurviveARestart(t *testing.T) {
	rdb := redisClient(t, redistest.Start(t, redistest.Options{}))
	drops := memStore(t)
	first, stop := sharedOrigin(t, drops, rdb)
	card, err := first.Show(context.Background(), "cam1", Request{Type: KindProduct, Drop: "d1", SKU: "cap"})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	again, _ := sharedOrigin(t, drops, rdb)
	eventually(t, "the restarted origin to show the card", func() bool {
		l := again.List("cam1")
		return len(l) == 1 && l[0].ID == card.ID && l[0].Name == card.Name
	})
	// Its next pin does not reuse the id.
	next, err := again.Show(context.Background(), "cam1", Request{Type: KindProduct, Drop: "d1", SKU: "tee"})
	if err != nil {
		t.Fatal(err)
	}
	if next.ID == card.ID {
		t.Fatalf("the restarted origin gave the new card the id %s again", next.ID)
	}
}

// TestSharedBoardsRedisDown: a pin made while Redis is down is shown at
// once and stored when Redis is back.
func TestSharedBoardsRedisDown(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := redisClient(t, srv)
	drops := memStore(t)
	h, _ := sharedOrigin(t, drops, rdb)
	srv.Stop()
	start := time.Now()
	card, err := h.Show(context.Background(), "cam1", Request{Type: KindProduct, Drop: "d1", SKU: "tee"})
	if err != nil {
		t.Fatalf("a pin with Redis down: %v", err)
	}
	if took := time.Since(start); took > 2*shareTimeout {
		t.Fatalf("a pin with Redis down took %v", took)
	}
	if l := h.List("cam1"); len(l) != 1 || l[0].ID != card.ID {
		t.Fatalf("the card is not shown while Redis is down: %+v", l)
	}
	srv.Restart()
	boards := NewRedisBoards(rdb)
	eventually(t, "the pin stored once Redis is back", func() bool {
		all, err := boards.LoadBoards(context.Background())
		return err == nil && len(all["cam1"].Overlays) == 1 && all["cam1"].Overlays[0].ID == card.ID
	})
}

// TestRedisBoardsRefusesAStaleVersion: the store's compare-and-set.
func TestRedisBoardsRefusesAStaleVersion(t *testing.T) {
	rdb := redisClient(t, redistest.Start(t, redistest.Options{}))
	s := NewRedisBoards(rdb)
	ctx := context.Background()
	v1, ok, _, err := s.SaveBoard(ctx, "cam1", 0, SharedBoard{NextID: 1, Overlays: []Overlay{{ID: "ov-1", Kind: KindCountdown, Label: "a"}}})
	if err != nil || !ok || v1 != 1 {
		t.Fatalf("first save = %d %v %v", v1, ok, err)
	}
	_, ok, cur, err := s.SaveBoard(ctx, "cam1", 0, SharedBoard{NextID: 1, Overlays: []Overlay{{ID: "ov-1", Kind: KindCountdown, Label: "b"}}})
	if err != nil || ok {
		t.Fatalf("a save from version 0 over version 1 = %v %v", ok, err)
	}
	if cur.Version != 1 || len(cur.Overlays) != 1 || cur.Overlays[0].Label != "a" {
		t.Fatalf("stored board %+v, want the first save", cur)
	}
	if v2, ok, _, err := s.SaveBoard(ctx, "cam1", 1, SharedBoard{NextID: 2}); err != nil || !ok || v2 != 2 {
		t.Fatalf("save from the stored version = %d %v %v", v2, ok, err)
	}
	if err := rdb.HSet(ctx, BoardsKey, "bad", "not a board").Err(); err != nil {
		t.Fatal(err)
	}
	all, err := s.LoadBoards(ctx)
	if err == nil || !strings.Contains(err.Error(), "stream bad") {
		t.Fatalf("a damaged stored board loaded with error %v, want it named", err)
	}
	if all["cam1"].Version != 2 {
		t.Fatalf("a damaged board hid the others: %+v", all)
	}
}
