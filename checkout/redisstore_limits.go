package checkout

import (
	"context"
	"fmt"
	"strings"
)

// The Redis store's purchase-limit allowances (scriptAllow, scriptRelease;
// the sale scripts check the limits themselves).

// maxWantedPerView bounds the wanted allowances one view returns (the rest
// come with the next syncs).
const maxWantedPerView = 1024

// wantedItem parses a limit field (sku|limit key).
func wantedItem(f string) (AllowItem, bool) {
	sku, key, ok := strings.Cut(f, "|")
	if !ok || kindOfKey(key) == "" {
		return AllowItem{}, false
	}
	return AllowItem{SKU: sku, Limit: Limit{Key: key}}, true
}

// Allow implements Store.
func (s *RedisStore) Allow(ctx context.Context, op AllowOp) ([]int, error) {
	if len(op.Items) == 0 {
		return nil, nil
	}
	k := dropKeys(op.Drop)
	want := 0
	if op.Want {
		want = 1
	}
	args := make([]any, 0, 4+2*len(op.Items))
	args = append(args, op.Edge, op.TTL.Milliseconds(), want, len(op.Items))
	for _, it := range op.Items {
		args = append(args, limitField(it.SKU, it.Limit.Key), it.Limit.Max)
	}
	vals, err := scriptAllow.Run(ctx, s.rdb, []string{k.used(), k.allow(), k.wanted()}, args...).Int64Slice()
	if err != nil {
		return nil, unavailable("lease allowances", err)
	}
	if len(vals) != len(op.Items) {
		return nil, fmt.Errorf("lease allowances: %d answers for %d items", len(vals), len(op.Items))
	}
	out := make([]int, len(vals))
	for i, v := range vals {
		out[i] = int(v)
	}
	return out, nil
}

// Release implements Store.
func (s *RedisStore) Release(ctx context.Context, drop, edge string, items []AllowItem) error {
	if len(items) == 0 {
		return nil
	}
	k := dropKeys(drop)
	args := make([]any, 0, 1+len(items))
	args = append(args, edge)
	for _, it := range items {
		args = append(args, limitField(it.SKU, it.Limit.Key))
	}
	if err := scriptRelease.Run(ctx, s.rdb, []string{k.allow(), k.wanted()}, args...).Err(); err != nil {
		return unavailable("release allowances", err)
	}
	return nil
}
