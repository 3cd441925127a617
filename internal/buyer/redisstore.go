package buyer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore is the Store on Redis (or Redis Cluster: an email's code,
// lockout and record share a hash tag; the KPI sets have their own).
// It uses the client of the checkout store and does not close it.
type RedisStore struct {
	rdb redis.UniversalClient
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore keeps its keys in rdb.
func NewRedisStore(rdb redis.UniversalClient) *RedisStore { return &RedisStore{rdb: rdb} }

// Key names, in one place.
func emailTag(email string) string  { return "{be:" + emailKey(email) + "}" }
func codeKey(email string) string   { return emailTag(email) + ":code" }
func lockKey(email string) string   { return emailTag(email) + ":lock" }
func recKey(email string) string    { return recKeyOf(emailKey(email)) }
func recKeyOf(ek string) string     { return "{be:" + ek + "}:rec" }
func memberKey(email string) string { return emailTag(email) + ":member" }
func sendKey(key string) string     { return "{bs:" + key + "}:sends" }

// The KPI keys share the {buyers} slot: the sets the counts read, the
// index of buyer ids to email keys, the consent version each buyer's
// sets were last written at, and the channel and region of each buyer's
// first consent.
const (
	emailsKey    = "{buyers}:emails"
	marketingKey = "{buyers}:marketing"
	withdrawnKey = "{buyers}:withdrawn"
	idsKey       = "{buyers}:ids"
	versionsKey  = "{buyers}:mv"
	mChannelKey  = "{buyers}:mch"
	mRegionKey   = "{buyers}:mre"
)

var putScript = redis.NewScript(`
local l = redis.call('PTTL', KEYS[2])
if l > 0 then return l end
redis.call('HSET', KEYS[1], 'h', ARGV[1])
redis.call('HSETNX', KEYS[1], 'n', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
`)

var checkScript = redis.NewScript(`
local l = redis.call('PTTL', KEYS[2])
if l > 0 then return {'locked', l} end
local h = redis.call('HGET', KEYS[1], 'h')
if not h then return {'none', 0} end
for i = 3, #ARGV do
  if ARGV[i] == h then
    redis.call('DEL', KEYS[1])
    return {'ok', 0}
  end
end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local max = tonumber(ARGV[1])
if n >= max then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  return {'locked_up', tonumber(ARGV[2])}
end
return {'wrong', max - n}
`)

var sendScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local t = redis.call('PTTL', KEYS[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  t = tonumber(ARGV[1])
end
return {n, t}
`)

// recFields are the record fields the scripts return, in this order.
// mv counts the record's consent changes (the KPI sets follow it).
// ch and re are the origin of the first consent.
var recFields = []string{"id", "email", "email_at", "mkt", "mkt_at", "last", "wd_at", "mv", "ch", "re"}

var signedInScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'email', ARGV[2], 'email_at', ARGV[3], 'mv', 0)
end
if ARGV[4] == '1' and redis.call('HGET', KEYS[1], 'mkt') ~= '1' then
  redis.call('HSET', KEYS[1], 'mkt', '1')
  if redis.call('HSETNX', KEYS[1], 'mkt_at', ARGV[3]) == 1 then
    redis.call('HSET', KEYS[1], 'ch', ARGV[5], 're', ARGV[6])
  end
  redis.call('HDEL', KEYS[1], 'wd_at')
  redis.call('HINCRBY', KEYS[1], 'mv', 1)
end
redis.call('HSET', KEYS[1], 'last', ARGV[3])
local r = redis.call('HMGET', KEYS[1], 'id', 'email', 'email_at', 'mkt', 'mkt_at', 'last', 'wd_at', 'mv', 'ch', 're')
r[#r + 1] = redis.call('EXISTS', KEYS[2])
return r
`)

// withdrawScript withdraws the consent of the record KEYS[1] if it was
// given: {1 when it did, the record fields}; {-1} when there is no record.
var withdrawScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local did = 0
if redis.call('HGET', KEYS[1], 'mkt') == '1' then
  redis.call('HSET', KEYS[1], 'mkt', '0', 'wd_at', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'mv', 1)
  did = 1
end
return {did, redis.call('HMGET', KEYS[1], 'id', 'email', 'email_at', 'mkt', 'mkt_at', 'last', 'wd_at', 'mv', 'ch', 're')}
`)

// kpiScript writes one buyer's entries in the KPI sets from its record:
// the email, the id index, and either its consent (state m, with its
// origin) or its withdrawal (state w) at the score. A write older than the
// last one applied (by consent version) changes nothing, so a sign-in and
// a withdrawal racing each other end with the newer one's state, and a
// retry of the same version is harmless.
var kpiScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
local v = tonumber(redis.call('HGET', KEYS[5], ARGV[1]) or '-1')
local mv = tonumber(ARGV[4])
if mv < v then return 0 end
redis.call('HSET', KEYS[5], ARGV[1], mv)
if ARGV[5] == 'm' then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
  redis.call('HSET', KEYS[6], ARGV[1], ARGV[7])
  redis.call('HSET', KEYS[7], ARGV[1], ARGV[8])
  redis.call('ZREM', KEYS[3], ARGV[1])
elseif ARGV[5] == 'w' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
end
return 1
`)

func unavailable(op string, err error) error {
	return fmt.Errorf("buyer store: %s: %w: %w", op, ErrUnavailable, err)
}

// PutCode implements Store.
func (s *RedisStore) PutCode(ctx context.Context, email, hash string, ttl time.Duration) (time.Duration, error) {
	n, err := putScript.Run(ctx, s.rdb, []string{codeKey(email), lockKey(email)}, hash, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, unavailable("put code", err)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// CheckCode implements Store.
func (s *RedisStore) CheckCode(ctx context.Context, email string, hashes []string, maxTries int, lockout time.Duration) (CodeCheck, error) {
	args := make([]any, 0, 2+len(hashes))
	args = append(args, maxTries, lockout.Milliseconds())
	for _, h := range hashes {
		args = append(args, h)
	}
	v, err := checkScript.Run(ctx, s.rdb, []string{codeKey(email), lockKey(email)}, args...).Slice()
	if err != nil {
		return CodeCheck{}, unavailable("check code", err)
	}
	if len(v) != 2 {
		return CodeCheck{}, unavailable("check code", errors.New("unexpected reply"))
	}
	res, _ := v[0].(string)
	n, _ := v[1].(int64)
	switch CodeResult(res) {
	case CodeOK, CodeNone:
		return CodeCheck{Result: CodeResult(res)}, nil
	case CodeWrong:
		return CodeCheck{Result: CodeWrong, Left: int(n)}, nil
	case CodeLocked, CodeLockedUp:
		return CodeCheck{Result: CodeResult(res), RetryAfter: time.Duration(n) * time.Millisecond}, nil
	}
	return CodeCheck{}, unavailable("check code", fmt.Errorf("unexpected result %q", res))
}

// CountSend implements Store.
func (s *RedisStore) CountSend(ctx context.Context, key string, window time.Duration) (int, time.Duration, error) {
	v, err := sendScript.Run(ctx, s.rdb, []string{sendKey(key)}, window.Milliseconds()).Int64Slice()
	if err != nil || len(v) != 2 {
		return 0, 0, unavailable("count send", errors.Join(err, errors.New("unexpected reply")))
	}
	return int(v[0]), time.Duration(v[1]) * time.Millisecond, nil
}

// SignedIn implements Store.
func (s *RedisStore) SignedIn(ctx context.Context, email, newID string, marketing bool, at time.Time) (Record, error) {
	return signedIn(ctx, s, email, newID, marketing, at)
}

// SignedInFrom implements Store.
func (s *RedisStore) SignedInFrom(ctx context.Context, email, newID string, marketing bool, from Origin, at time.Time) (Record, error) {
	from = originOf(from)
	mkt := "0"
	if marketing {
		mkt = "1"
	}
	v, err := signedInScript.Run(ctx, s.rdb, []string{recKey(email), memberKey(email)}, newID, email, at.UnixMilli(), mkt, from.Channel, from.Region).Slice()
	if err != nil || len(v) != len(recFields)+1 {
		return Record{}, unavailable("record sign-in", errors.Join(err, errors.New("unexpected reply")))
	}
	r, mv := recordOf(v)
	r.Member = v[len(recFields)] == int64(1)
	// The KPI sets live in another slot: written after the record, from
	// it, so a retry (or the next sign-in after a failure here) repairs
	// what is missing.
	if err := s.writeKPIs(ctx, emailKey(email), r, mv); err != nil {
		return r, unavailable("record consent", err)
	}
	return r, nil
}

// recordOf reads the fields of recFields.
func recordOf(v []any) (Record, int64) {
	str := func(i int) string { s, _ := v[i].(string); return s }
	ms := func(i int) time.Time {
		n, err := strconv.ParseInt(str(i), 10, 64)
		if err != nil || n == 0 {
			return time.Time{}
		}
		return time.UnixMilli(n).UTC()
	}
	mv, _ := strconv.ParseInt(str(7), 10, 64)
	r := Record{ID: str(0), Email: str(1), EmailAt: ms(2), Marketing: str(3) == "1", MarketingAt: ms(4),
		LastSignIn: ms(5), WithdrawnAt: ms(6)}
	if !r.MarketingAt.IsZero() {
		r.Origin = originOf(Origin{Channel: str(8), Region: str(9)})
	}
	return r, mv
}

func (s *RedisStore) writeKPIs(ctx context.Context, ek string, r Record, mv int64) error {
	state, score := "-", int64(0)
	switch {
	case r.Marketing && !r.MarketingAt.IsZero():
		state, score = "m", r.MarketingAt.UnixMilli()
	case !r.Marketing && !r.WithdrawnAt.IsZero():
		state, score = "w", r.WithdrawnAt.UnixMilli()
	}
	return kpiScript.Run(ctx, s.rdb, []string{emailsKey, marketingKey, withdrawnKey, idsKey, versionsKey, mChannelKey, mRegionKey},
		r.ID, r.EmailAt.UnixMilli(), ek, mv, state, score, r.Origin.Channel, r.Origin.Region).Err()
}

// SetMember implements Store.
func (s *RedisStore) SetMember(ctx context.Context, email string, member bool) error {
	var err error
	if member {
		err = s.rdb.Set(ctx, memberKey(email), "1", 0).Err()
	} else {
		err = s.rdb.Del(ctx, memberKey(email)).Err()
	}
	if err != nil {
		return unavailable("set member", err)
	}
	return nil
}

// WithdrawConsent implements Store: the record changes in one script, the
// KPI sets follow in another (see kpiScript); a repeated withdrawal
// repairs the sets if the first one's second step failed.
func (s *RedisStore) WithdrawConsent(ctx context.Context, buyerID string, at time.Time) (Record, bool, error) {
	ek, err := s.rdb.HGet(ctx, idsKey, buyerID).Result()
	if errors.Is(err, redis.Nil) {
		return Record{}, false, fmt.Errorf("buyer store: withdraw consent: %w: no email buyer %q", ErrNotFound, buyerID)
	}
	if err != nil {
		return Record{}, false, unavailable("withdraw consent", err)
	}
	v, err := withdrawScript.Run(ctx, s.rdb, []string{recKeyOf(ek)}, at.UnixMilli()).Slice()
	if err != nil {
		return Record{}, false, unavailable("withdraw consent", err)
	}
	if len(v) == 1 {
		return Record{}, false, fmt.Errorf("buyer store: withdraw consent: %w: no email buyer %q", ErrNotFound, buyerID)
	}
	fields, _ := v[1].([]any)
	if len(v) != 2 || len(fields) != len(recFields) {
		return Record{}, false, unavailable("withdraw consent", errors.New("unexpected reply"))
	}
	did, _ := v[0].(int64)
	r, mv := recordOf(fields)
	if err := s.writeKPIs(ctx, ek, r, mv); err != nil {
		return r, did == 1, unavailable("withdraw consent", err)
	}
	return r, did == 1, nil
}

// countsScript counts emails and withdrawals in the span and returns the
// origin of each consent in it: {emails, withdrawn, ch1, re1, ch2, re2...}.
var countsScript = redis.NewScript(`
local out = {redis.call('ZCOUNT', KEYS[1], ARGV[1], ARGV[2]), redis.call('ZCOUNT', KEYS[3], ARGV[1], ARGV[2])}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[2])) do
  out[#out + 1] = redis.call('HGET', KEYS[4], id) or ''
  out[#out + 1] = redis.call('HGET', KEYS[5], id) or ''
end
return out
`)

// Counts implements Store: the consents of the span are read one by one
// for their origin (a pop-up's thousands, in one script).
func (s *RedisStore) Counts(ctx context.Context, from, to time.Time) (Counts, error) {
	lo, hi := strconv.FormatInt(from.UnixMilli(), 10), "("+strconv.FormatInt(to.UnixMilli(), 10)
	v, err := countsScript.Run(ctx, s.rdb, []string{emailsKey, marketingKey, withdrawnKey, mChannelKey, mRegionKey}, lo, hi).Slice()
	if err != nil || len(v) < 2 || len(v)%2 != 0 {
		return Counts{}, unavailable("counts", errors.Join(err, errors.New("unexpected reply")))
	}
	e, _ := v[0].(int64)
	w, _ := v[1].(int64)
	c := Counts{NewEmails: int(e), Withdrawn: int(w)}
	for i := 2; i < len(v); i += 2 {
		ch, _ := v[i].(string)
		re, _ := v[i+1].(string)
		c.MarketingConsents++
		c.tally(Origin{Channel: ch, Region: re})
	}
	return c, nil
}
