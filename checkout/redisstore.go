package checkout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// dropIndexKey lists all drop ids. It is the only key outside a drop's hash
// tag; it is written apart from the drop's atomic scripts.
const dropIndexKey = "livedrop:drops"

// opTTL is how long the answer to a lease operation is kept for retries.
const opTTL = time.Hour

// keys builds every key of one drop; all share the hash tag {drop:ID}.
type keys struct{ tag string }

func dropKeys(id string) keys { return keys{"{drop:" + id + "}"} }

func (k keys) meta() string        { return k.tag + ":meta" }
func (k keys) sku(s string) string { return k.tag + ":sku:" + s }
func (k keys) leases() string      { return k.tag + ":leases" }
func (k keys) leaseExp() string    { return k.tag + ":leaseexp" }
func (k keys) orders() string      { return k.tag + ":orders" }
func (k keys) pending() string     { return k.tag + ":pending" }
func (k keys) used() string        { return k.tag + ":used" }
func (k keys) allow() string       { return k.tag + ":allow" }
func (k keys) wanted() string      { return k.tag + ":wanted" }
func (k keys) stream() string      { return k.tag + ":stream" }
func (k keys) op(id string) string { return k.tag + ":op:" + id }

// log lists the drop's order ids in the order they were recorded (a list:
// an order's place in it never changes; DropOrders).
func (k keys) log() string { return k.tag + ":log" }

// buyerOrders lists one buyer's orders of the drop (a sorted set scored by
// the time the store recorded each).
func (k keys) buyerOrders(buyer string) string { return k.tag + ":buyer:" + buyer }

// buyerDropsKey lists the drops a buyer has orders in. It is outside any
// drop's hash tag: it is written in the same pipeline as, and before, the
// script that records the order, so every recorded order's drop is in it.
func buyerDropsKey(buyer string) string  { return "livedrop:buyer:" + buyer + ":drops" }
func leaseField(sku, edge string) string { return sku + "|" + edge }
func limitField(sku, key string) string  { return sku + "|" + key }

// RedisStore is the Store on Redis (or Redis Cluster: keys of one drop share
// a hash tag and every script touches one drop only).
type RedisStore struct {
	rdb    redis.UniversalClient
	logger *slog.Logger
}

var _ Store = (*RedisStore)(nil)

// OpenRedisStore connects to the Redis at url. An unreachable Redis is not an
// error here: edges must start and sell from their journal's leases while it
// is down; calls fail with ErrUnavailable until it answers.
func OpenRedisStore(ctx context.Context, url string, logger *slog.Logger) (*RedisStore, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("checkout.redis_url: %w", err)
	}
	opt.DialTimeout = time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	opt.MaxRetries = 1
	opt.PoolSize = 64
	opt.ContextTimeoutEnabled = true
	s := &RedisStore{rdb: redis.NewClient(opt), logger: logger.With("component", "checkout-redis")}
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := s.rdb.Ping(pctx).Err(); err != nil {
		s.logger.Warn("redis not reachable yet", "addr", opt.Addr, "err", err)
	}
	return s, nil
}

// NewRedisStore wraps an existing client.
func NewRedisStore(rdb redis.UniversalClient, logger *slog.Logger) *RedisStore {
	return &RedisStore{rdb: rdb, logger: logger}
}

// Close closes the client.
func (s *RedisStore) Close() error { return s.rdb.Close() }

// unavailable wraps a transport error so it classifies as ErrUnavailable.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// CreateDrop implements Store.
func (s *RedisStore) CreateDrop(ctx context.Context, d Drop) error {
	if err := d.Validate(); err != nil {
		return err
	}
	k := dropKeys(d.ID)
	skus, err := json.Marshal(d.SKUs)
	if err != nil {
		return fmt.Errorf("encode skus: %w", err)
	}
	ks := []string{k.meta()}
	args := []any{d.Stream, string(skus)}
	for _, sku := range d.SKUs {
		ks = append(ks, k.sku(sku.SKU))
		args = append(args, sku.Stock)
	}
	gate, err := json.Marshal(d.Gate)
	if err != nil {
		return fmt.Errorf("encode gate: %w", err)
	}
	args = append(args, string(gate))
	if args, err = appendOpening(args, d); err != nil {
		return err
	}
	res, err := scriptCreate.Run(ctx, s.rdb, ks, args...).Text()
	if err != nil {
		return unavailable("create drop", err)
	}
	if res == "exists" {
		return fmt.Errorf("drop %s: %w", d.ID, ErrDropExists)
	}
	if err := s.rdb.SAdd(ctx, dropIndexKey, d.ID).Err(); err != nil {
		return unavailable("index drop", err)
	}
	return nil
}

// SetState implements Store.
func (s *RedisStore) SetState(ctx context.Context, drop, state string) error {
	res, err := scriptSetState.Run(ctx, s.rdb, []string{dropKeys(drop).meta()}, state).Text()
	if err != nil {
		return unavailable("set drop state", err)
	}
	switch {
	case res == "ok":
		return nil
	case res == "notfound":
		return fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	default:
		return fmt.Errorf("drop %s is %s, cannot become %s: %w", drop, strings.TrimPrefix(res, "conflict:"), state, ErrConflict)
	}
}

// Drop implements Store.
func (s *RedisStore) Drop(ctx context.Context, id string) (Drop, error) {
	m, err := s.rdb.HGetAll(ctx, dropKeys(id).meta()).Result()
	if err != nil {
		return Drop{}, unavailable("read drop", err)
	}
	if len(m) == 0 {
		return Drop{}, fmt.Errorf("drop %s: %w", id, ErrNotFound)
	}
	d := Drop{ID: id, Stream: m["stream"], State: m["state"]}
	if err := json.Unmarshal([]byte(m["skus"]), &d.SKUs); err != nil {
		return Drop{}, fmt.Errorf("decode drop %s skus: %w", id, err)
	}
	if g := m["gate"]; g != "" { // drops made before gates have none
		if err := json.Unmarshal([]byte(g), &d.Gate); err != nil {
			return Drop{}, fmt.Errorf("decode drop %s gate: %w", id, err)
		}
	}
	if err := decodeOpening(m["opening"], &d); err != nil {
		return Drop{}, fmt.Errorf("decode drop %s opening: %w", id, err)
	}
	if v := m["opened_at"]; v != "" { // drops opened before it was kept have none
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Drop{}, fmt.Errorf("decode drop %s opened_at: %w", id, err)
		}
		d.OpenedAt = time.UnixMilli(ms).UTC()
	}
	return d, nil
}

// Totals implements Store.
func (s *RedisStore) Totals(ctx context.Context, id string) (Totals, error) {
	d, err := s.Drop(ctx, id)
	if err != nil {
		return Totals{}, err
	}
	k := dropKeys(id)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(d.SKUs))
	for i, sku := range d.SKUs {
		cmds[i] = pipe.HGetAll(ctx, k.sku(sku.SKU))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return Totals{}, unavailable("read totals", err)
	}
	t := Totals{Drop: id, Stream: d.Stream, State: d.State, MembersUntil: d.MembersUntil()}
	for i, sku := range d.SKUs {
		m := cmds[i].Val()
		t.SKUs = append(t.SKUs, SKUTotals{
			SKU: sku.SKU, Currency: sku.Currency,
			Stock: atoi(m["stock"]), Free: atoi(m["free"]), HeldAtEdges: atoi(m["leased"]),
			Sold: atoi(m["sold"]), Orders: atoi(m["orders"]), Paid: atoi(m["paid"]),
			Cancelled: atoi(m["cancelled"]), Refunded: atoi(m["refunded"]), RevenueCents: int64(atoi(m["revenue"])),
			Reserved: atoi(m["reserved"]),
			Waitlist: max(0, atoi(m["waitlist"])),
		})
	}
	return t, nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// View implements Store.
func (s *RedisStore) View(ctx context.Context, drop, edge string, skus []string) (DropView, error) {
	k := dropKeys(drop)
	pipe := s.rdb.Pipeline()
	state := pipe.HGet(ctx, k.meta(), "state")
	vals := make([]*redis.SliceCmd, len(skus))
	mine := make([]*redis.StringCmd, len(skus))
	for i, sku := range skus {
		vals[i] = pipe.HMGet(ctx, k.sku(sku), "free", "leased", "waitlist")
		mine[i] = pipe.HGet(ctx, k.leases(), leaseField(sku, edge))
	}
	wanted := pipe.ZRangeByLex(ctx, k.wanted(), &redis.ZRangeBy{Min: "[" + edge + "|", Max: "[" + edge + "|\xff", Count: maxWantedPerView})
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return DropView{}, unavailable("read view", err)
	}
	if errors.Is(state.Err(), redis.Nil) {
		return DropView{}, fmt.Errorf("drop %s: %w", drop, ErrNotFound)
	}
	v := DropView{State: state.Val(), SKUs: make(map[string]SKUView, len(skus))}
	for i, sku := range skus {
		f := vals[i].Val()
		var sv SKUView
		if len(f) == 3 {
			sv.Free, _ = strconv.Atoi(fmt.Sprint(f[0]))
			sv.Leased, _ = strconv.Atoi(fmt.Sprint(f[1]))
			wl, _ := strconv.Atoi(fmt.Sprint(f[2]))
			sv.Free = openFree(sv.Free, wl) // waitlist.go: units the waitlist waits for are not for sale
		}
		sv.MyLease, _ = strconv.Atoi(mine[i].Val())
		v.SKUs[sku] = sv
	}
	for _, m := range wanted.Val() {
		if it, ok := wantedItem(strings.TrimPrefix(m, edge+"|")); ok {
			v.Wanted = append(v.Wanted, it)
		}
	}
	return v, nil
}

// ListDrops implements Store.
func (s *RedisStore) ListDrops(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, dropIndexKey).Result()
	if err != nil {
		return nil, unavailable("list drops", err)
	}
	return ids, nil
}

// Grant implements Store.
func (s *RedisStore) Grant(ctx context.Context, op LeaseOp) (Grant, error) {
	k := dropKeys(op.Drop)
	vals, err := scriptGrant.Run(ctx, s.rdb,
		[]string{k.meta(), k.sku(op.SKU), k.leases(), k.leaseExp(), k.op(op.OpID)},
		leaseField(op.SKU, op.Edge), op.Units, op.Threshold, op.TTL.Milliseconds(), int(opTTL.Seconds()),
	).Slice()
	if err != nil {
		return Grant{}, unavailable("grant lease", err)
	}
	if len(vals) != 4 {
		return Grant{}, fmt.Errorf("grant lease: unexpected reply %v", vals)
	}
	g := Grant{Units: toInt(vals[1]), Lease: toInt(vals[2]), Free: toInt(vals[3])}
	switch fmt.Sprint(vals[0]) {
	case "granted":
	case "direct":
		g.Direct = true
	case "notopen":
		g.NotOpen = true
	case "notfound":
		return Grant{}, fmt.Errorf("drop %s: %w", op.Drop, ErrNotFound)
	}
	return g, nil
}

func toInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case string:
		return atoi(x)
	}
	return 0
}

// Return implements Store.
func (s *RedisStore) Return(ctx context.Context, op LeaseOp) (int, error) {
	k := dropKeys(op.Drop)
	n, err := scriptReturn.Run(ctx, s.rdb,
		[]string{k.sku(op.SKU), k.leases(), k.leaseExp(), k.op(op.OpID)},
		leaseField(op.SKU, op.Edge), op.Units, int(opTTL.Seconds()),
	).Int()
	if err != nil {
		return 0, unavailable("return lease", err)
	}
	return n, nil
}

// Renew implements Store.
func (s *RedisStore) Renew(ctx context.Context, drop, sku, edge string, ttl time.Duration) (int, error) {
	k := dropKeys(drop)
	n, err := scriptRenew.Run(ctx, s.rdb, []string{k.leases(), k.leaseExp()}, leaseField(sku, edge), ttl.Milliseconds()).Int()
	if err != nil {
		return 0, unavailable("renew lease", err)
	}
	if n < 0 {
		return 0, ErrLeaseGone
	}
	return n, nil
}

// ReapLeases implements Store.
func (s *RedisStore) ReapLeases(ctx context.Context, drop string) (int, error) {
	now, err := s.now(ctx)
	if err != nil {
		return 0, err
	}
	k := dropKeys(drop)
	fields, err := s.rdb.ZRangeByScore(ctx, k.leaseExp(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now, 10), Count: 500}).Result()
	if err != nil {
		return 0, unavailable("list expired leases", err)
	}
	total := 0
	for _, f := range fields {
		sku, _, ok := strings.Cut(f, "|")
		if !ok {
			continue
		}
		n, err := scriptReclaim.Run(ctx, s.rdb, []string{k.sku(sku), k.leases(), k.leaseExp()}, f).Int()
		if err != nil {
			return total, unavailable("reclaim lease", err)
		}
		total += n
	}
	return total, nil
}
