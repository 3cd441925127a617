package viewlog

import (
	"context"
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/internal/redistest"
)

// TestRedisLogAppendIsIdempotent: two origins on one Redis copying the
// same reports write each event once, in order, and the list keeps its
// bound (an event trimmed away may come again).
func TestRedisLogAppendIsIdempotent(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	primary, standby := NewRedisLog(rdb, 3), NewRedisLog(rdb, 3)
	a, b, c, d := ev("s1", "ann", "qr", true, 100), ev("s2", "bob", "qr", true, 110), ev("s1", "ann", "qr", false, 120), ev("s3", "cid", "direct", true, 130)
	for _, step := range []struct {
		log  *RedisLog
		evs  []Event
		want []Event
	}{
		{primary, []Event{a, b}, []Event{a, b}},
		{standby, []Event{a, b}, []Event{a, b}},
		{standby, []Event{b, c}, []Event{a, b, c}},
		{primary, []Event{a, b, c, d}, []Event{b, c, d}},
		{standby, []Event{a}, []Event{c, d, a}},
	} {
		if err := step.log.Append(ctx, "cam", step.evs); err != nil {
			t.Fatal(err)
		}
		all, err := primary.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := all["cam"]; !reflect.DeepEqual(got, step.want) {
			t.Fatalf("after appending %v: %v, want %v", step.evs, got, step.want)
		}
	}
}
