package checkout

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// KEYS: meta, the drop's current sku keys, then the new ones; ARGV: number
// of current sku keys, the skus JSON they were read from, stream, new skus
// JSON, gate JSON, opening JSON (” for none), then each new SKU's stock.
var scriptUpdateDrop = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return 'notfound' end
if st ~= 'created' then return 'state:' .. st end
if redis.call('HGET', KEYS[1], 'skus') ~= ARGV[2] then return 'changed' end
local n = tonumber(ARGV[1])
for i = 2, n + 1 do
  local v = redis.call('HMGET', KEYS[i], 'sold', 'leased', 'orders', 'reserved', 'cancelled', 'refunded')
  for j = 1, #v do if v[j] and tonumber(v[j]) ~= 0 then return 'used' end end
end
for i = 2, n + 1 do redis.call('DEL', KEYS[i]) end
redis.call('HSET', KEYS[1], 'stream', ARGV[3], 'skus', ARGV[4], 'gate', ARGV[5])
if ARGV[6] == '' then redis.call('HDEL', KEYS[1], 'opening') else redis.call('HSET', KEYS[1], 'opening', ARGV[6]) end
for i = n + 2, #KEYS do
  local s = ARGV[7 + i - n - 2]
  redis.call('HSET', KEYS[i], 'stock', s, 'free', s, 'leased', 0, 'sold', 0, 'orders', 0, 'revenue', 0, 'paid', 0, 'cancelled', 0)
end
return 'ok'
`)

// UpdateDrop implements DropEditStore: one script checks the drop is still
// created with nothing used and swaps its definition; a definition changed
// between the read and the script is retried once.
func (s *RedisStore) UpdateDrop(ctx context.Context, d Drop) error {
	if err := d.Validate(); err != nil {
		return err
	}
	k := dropKeys(d.ID)
	skus, err := json.Marshal(d.SKUs)
	if err != nil {
		return fmt.Errorf("encode skus: %w", err)
	}
	gate, err := json.Marshal(d.Gate)
	if err != nil {
		return fmt.Errorf("encode gate: %w", err)
	}
	opening := ""
	if o, err := appendOpening(nil, d); err != nil {
		return err
	} else if len(o) == 2 {
		opening = o[1].(string)
	}
	for range 2 {
		cur, err := s.rdb.HGet(ctx, k.meta(), "skus").Result()
		if err == redis.Nil {
			return fmt.Errorf("drop %s: %w", d.ID, ErrNotFound)
		}
		if err != nil {
			return unavailable("read drop", err)
		}
		var old []SKU
		if err := json.Unmarshal([]byte(cur), &old); err != nil {
			return fmt.Errorf("decode drop %s skus: %w", d.ID, err)
		}
		ks := []string{k.meta()}
		for _, o := range old {
			ks = append(ks, k.sku(o.SKU))
		}
		args := []any{len(old), cur, d.Stream, string(skus), string(gate), opening}
		for _, n := range d.SKUs {
			ks = append(ks, k.sku(n.SKU))
			args = append(args, n.Stock)
		}
		res, err := scriptUpdateDrop.Run(ctx, s.rdb, ks, args...).Text()
		if err != nil {
			return unavailable("update drop", err)
		}
		switch {
		case res == "ok":
			return nil
		case res == "notfound":
			return fmt.Errorf("drop %s: %w", d.ID, ErrNotFound)
		case res == "used":
			return fmt.Errorf("drop %s has units reserved, leased or sold: %s: %w", d.ID, editRefusal, ErrConflict)
		case strings.HasPrefix(res, "state:"):
			return fmt.Errorf("drop %s is %s: %s: %w", d.ID, strings.TrimPrefix(res, "state:"), editRefusal, ErrConflict)
		}
	}
	return fmt.Errorf("drop %s changed while it was edited: try again: %w", d.ID, ErrConflict)
}
