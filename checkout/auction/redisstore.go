package auction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Channel is the Redis pub/sub channel every lot change is published on.
const Channel = "livedrop:lots:live"

// openKey lists the lots the closer still watches. It is the only key
// outside a lot's hash tag, written apart from the lot's scripts.
const openKey = "livedrop:lots:open"

// allKey lists every lot created (the event report reads it); like
// openKey it is outside the lots' hash tags.
const allKey = "livedrop:lots:all"

// answerTTL is how long the answer to a keyed bid is kept for retries.
const answerTTL = 24 * time.Hour

// lotKeys builds every key of one lot; all share the hash tag {lot:ID}.
type lotKeys struct{ tag string }

func keysOf(id string) lotKeys { return lotKeys{"{lot:" + id + "}"} }

func (k lotKeys) meta() string    { return k.tag + ":meta" }
func (k lotKeys) log() string     { return k.tag + ":bids" }
func (k lotKeys) bidders() string { return k.tag + ":bidders" }
func (k lotKeys) holds() string   { return k.tag + ":holds" }
func (k lotKeys) answer(buyer, key string) string {
	return k.tag + ":ans:" + strconv.Itoa(len(buyer)) + ":" + buyer + "|" + key
}

// RedisStore is the Store on Redis: one script per bid on the lot's keys
// decides it, so every edge's bids on a lot meet in one place.
type RedisStore struct {
	rdb redis.UniversalClient
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore uses rdb (the checkout store's client).
func NewRedisStore(rdb redis.UniversalClient) *RedisStore { return &RedisStore{rdb: rdb} }

// ErrUnavailable marks a store that did not answer.
var ErrUnavailable = errors.New("auction store unavailable")

func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// Create implements Store.
func (s *RedisStore) Create(ctx context.Context, l Lot) error {
	if err := l.Validate(); err != nil {
		return err
	}
	def, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode lot: %w", err)
	}
	incr, err := json.Marshal(l.Increments)
	if err != nil {
		return fmt.Errorf("encode increments: %w", err)
	}
	k := keysOf(l.ID)
	ok, err := s.rdb.HSetNX(ctx, k.meta(), "lot", string(def)).Result()
	if err != nil {
		return unavailable("create lot", err)
	}
	if !ok {
		return fmt.Errorf("lot %s: %w", l.ID, ErrExists)
	}
	sudden := "0"
	if l.SuddenDeath {
		sudden = "1"
	}
	if err := s.rdb.HSet(ctx, k.meta(), "start", l.StartCents, "reserve", l.ReserveCents, "extend", l.ExtendMS,
		"sudden", sudden, "incr", string(incr), "duration", l.DurationMS,
		"phase", PhaseCreated, "ends", 0, "price", 0, "leader", "", "lmax", 0, "bids", 0, "seq", 0).Err(); err != nil {
		return unavailable("create lot", err)
	}
	if err := s.rdb.SAdd(ctx, openKey, l.ID).Err(); err != nil {
		return unavailable("index lot", err)
	}
	if err := s.rdb.SAdd(ctx, allKey, l.ID).Err(); err != nil {
		return unavailable("index lot", err)
	}
	return nil
}

func (s *RedisStore) control(ctx context.Context, sc *redis.Script, op, id string) (Snapshot, error) {
	res, err := sc.Run(ctx, s.rdb, []string{keysOf(id).meta()}, id, Channel).Text()
	if err != nil {
		return Snapshot{}, unavailable(op, err)
	}
	switch {
	case res == "notfound":
		return Snapshot{}, fmt.Errorf("lot %s: %w", id, ErrNotFound)
	case strings.HasPrefix(res, "conflict:"):
		return Snapshot{}, fmt.Errorf("lot %s is %s: %w", id, strings.TrimPrefix(res, "conflict:"), ErrConflict)
	}
	return s.Lot(ctx, id)
}

// Start implements Store.
func (s *RedisStore) Start(ctx context.Context, id string) (Snapshot, error) {
	return s.control(ctx, scriptStart, "start lot", id)
}

// End implements Store.
func (s *RedisStore) End(ctx context.Context, id string) (Snapshot, error) {
	return s.control(ctx, scriptEnd, "end lot", id)
}

// Finish implements Store.
func (s *RedisStore) Finish(ctx context.Context, id string) (Snapshot, bool, error) {
	res, err := scriptFinish.Run(ctx, s.rdb, []string{keysOf(id).meta()}, id, Channel).Text()
	if err != nil {
		return Snapshot{}, false, unavailable("finish lot", err)
	}
	if res == "notfound" {
		return Snapshot{}, false, fmt.Errorf("lot %s: %w", id, ErrNotFound)
	}
	snap, err := s.Lot(ctx, id)
	return snap, res == "ended", err
}

// wireState is a state as the scripts encode it (numbers as strings).
type wireState struct {
	Lot    string `json:"lot"`
	Result Result `json:"result"`
	Phase  string `json:"phase"`
	AtMS   int64  `json:"at_ms,string"`
	EndsMS int64  `json:"ends_ms,string"`
	Price  int64  `json:"price_cents,string"`
	Leader string `json:"leader"`
	Bids   int    `json:"bids,string"`
	Seq    int64  `json:"seq,string"`
	First  int    `json:"first,string"`
}

func (w wireState) state() State {
	return State{Phase: w.Phase, EndsMS: w.EndsMS, PriceCents: w.Price, Leader: w.Leader, Bids: w.Bids, Seq: w.Seq}
}

// Bid implements Store.
func (s *RedisStore) Bid(ctx context.Context, req BidRequest) (Answer, error) {
	if err := req.Bid.Validate(); err != nil {
		return Answer{}, err
	}
	k := keysOf(req.Lot)
	keyed := "0"
	if req.Key != "" {
		keyed = "1"
	}
	vals, err := scriptBid.Run(ctx, s.rdb, []string{k.meta(), k.log(), k.bidders(), k.answer(req.Bid.Buyer, req.Key)},
		req.Lot, req.Bid.Buyer, req.Bid.AmountCents, req.Bid.MaxCents, int(answerTTL.Seconds()), Channel, keyed).StringSlice()
	if err != nil {
		return Answer{}, unavailable("bid", err)
	}
	if len(vals) != 2 {
		return Answer{}, fmt.Errorf("bid: unexpected reply %v", vals)
	}
	if vals[0] == "notfound" {
		return Answer{}, fmt.Errorf("lot %s: %w", req.Lot, ErrNotFound)
	}
	var w wireState
	if err := json.Unmarshal([]byte(vals[1]), &w); err != nil {
		return Answer{}, fmt.Errorf("bid: decode answer: %w", err)
	}
	return Answer{Result: w.Result, State: w.state(), AtMS: w.AtMS, First: w.First == 1, Replay: vals[0] == "replay"}, nil
}

// Lot implements Store.
func (s *RedisStore) Lot(ctx context.Context, id string) (Snapshot, error) {
	m, err := s.rdb.HGetAll(ctx, keysOf(id).meta()).Result()
	if err != nil {
		return Snapshot{}, unavailable("read lot", err)
	}
	if m["lot"] == "" || m["phase"] == "" {
		return Snapshot{}, fmt.Errorf("lot %s: %w", id, ErrNotFound)
	}
	var snap Snapshot
	if err := json.Unmarshal([]byte(m["lot"]), &snap.Lot); err != nil {
		return Snapshot{}, fmt.Errorf("decode lot %s: %w", id, err)
	}
	n := func(f string) int64 { v, _ := strconv.ParseInt(m[f], 10, 64); return v }
	snap.State = State{Phase: m["phase"], EndsMS: n("ends"), PriceCents: n("price"), Leader: m["leader"],
		LeaderMax: n("lmax"), Bids: int(n("bids")), Seq: n("seq")}
	snap.OrderID = m["order"]
	snap.Closed = m["closed"] == "1"
	snap.StartedMS = n("started")
	return snap, nil
}

// wireRecord is a log record as the bid script encodes it.
type wireRecord struct {
	Result    Result `json:"result"`
	Buyer     string `json:"buyer"`
	Amount    int64  `json:"amount_cents,string"`
	Max       int64  `json:"max_cents,string"`
	AtMS      int64  `json:"at_ms,string"`
	Price     int64  `json:"price_cents_after,string"`
	Leader    string `json:"leader_after"`
	EndsMS    int64  `json:"ends_ms_after,string"`
	PrevEnds  int64  `json:"ends_ms_before,string"`
	PrevPrice int64  `json:"price_cents_before,string"`
	Seq       int64  `json:"seq_after,string"`
}

// Log implements Store.
func (s *RedisStore) Log(ctx context.Context, id string) ([]Record, error) {
	raw, err := s.rdb.LRange(ctx, keysOf(id).log(), 0, -1).Result()
	if err != nil {
		return nil, unavailable("read bids", err)
	}
	out := make([]Record, 0, len(raw))
	for _, r := range raw {
		var w wireRecord
		if err := json.Unmarshal([]byte(r), &w); err != nil {
			return nil, fmt.Errorf("decode bid of lot %s: %w", id, err)
		}
		out = append(out, Record{Bid: Bid{Buyer: w.Buyer, AmountCents: w.Amount, MaxCents: w.Max}, Result: w.Result,
			AtMS: w.AtMS, Price: w.Price, Leader: w.Leader, EndsMS: w.EndsMS, PrevEnds: w.PrevEnds, PrevPrice: w.PrevPrice, Seq: w.Seq})
	}
	return out, nil
}

// SetOrder implements Store.
func (s *RedisStore) SetOrder(ctx context.Context, id, orderID string) error {
	if err := s.rdb.HSet(ctx, keysOf(id).meta(), "order", orderID).Err(); err != nil {
		return unavailable("record lot order", err)
	}
	return nil
}

// Open implements Store.
func (s *RedisStore) Open(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, openKey).Result()
	if err != nil {
		return nil, unavailable("list lots", err)
	}
	return ids, nil
}

// Close implements Store: HSETNX sets the lot's closed flag once, so of
// closers racing (two origins) one is told first. A call cut off before
// the open set is updated leaves the lot listed; the next Settle sees it
// closed and does nothing.
func (s *RedisStore) Close(ctx context.Context, id string) (bool, error) {
	first, err := s.rdb.HSetNX(ctx, keysOf(id).meta(), "closed", "1").Result()
	if err != nil {
		return false, unavailable("close lot", err)
	}
	if err := s.rdb.SRem(ctx, openKey, id).Err(); err != nil {
		return first, unavailable("close lot", err)
	}
	return first, nil
}

// SetHold implements Store.
func (s *RedisStore) SetHold(ctx context.Context, id, buyer, authID string) error {
	if err := s.rdb.HSet(ctx, keysOf(id).holds(), buyer, authID).Err(); err != nil {
		return unavailable("record hold", err)
	}
	return nil
}

// Holds implements Store.
func (s *RedisStore) Holds(ctx context.Context, id string) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, keysOf(id).holds()).Result()
	if err != nil {
		return nil, unavailable("read holds", err)
	}
	return m, nil
}

// Subscribe implements Store: it listens on Channel, and reads each lot's
// definition once (it never changes).
func (s *RedisStore) Subscribe(ctx context.Context, f func(Snapshot)) error {
	sub := s.rdb.Subscribe(ctx, Channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription is live from here
		return unavailable("subscribe", err)
	}
	lots := map[string]Lot{}
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-ch:
			if !ok {
				return nil
			}
			var w wireState
			if json.Unmarshal([]byte(msg.Payload), &w) != nil {
				continue
			}
			l, ok := lots[w.Lot]
			if !ok {
				snap, err := s.Lot(ctx, w.Lot)
				if err != nil {
					continue
				}
				l, lots[w.Lot] = snap.Lot, snap.Lot
			}
			f(Snapshot{Lot: l, State: w.state()})
		}
	}
}

// Now implements Store.
func (s *RedisStore) Now(ctx context.Context) (time.Time, error) {
	t, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return time.Time{}, unavailable("read the clock", err)
	}
	return t, nil
}

// Lots implements Store: the lots indexed at their creation, and any lot
// still open (one created before the index was kept).
func (s *RedisStore) Lots(ctx context.Context) ([]string, error) {
	all, err := s.rdb.SMembers(ctx, allKey).Result()
	if err != nil {
		return nil, unavailable("list lots", err)
	}
	open, err := s.rdb.SMembers(ctx, openKey).Result()
	if err != nil {
		return nil, unavailable("list lots", err)
	}
	ids := append(all, open...)
	slices.Sort(ids)
	return slices.Compact(ids), nil
}
