package buyer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/livedrop/livedrop/internal/guard"
)

// CodeLen is the number of digits of a sign-in code.
const CodeLen = 6

// guardSurface names sign-in codes in the guard's metrics and logs.
const guardSurface = "buyer_code"

// Params build a SignIn.
type Params struct {
	Config   Config
	Sessions *Sessions
	Store    Store
	Mailer   Mailer
	// Guard is this process's budget of wrong codes per client address
	// (nil: one of its own with the guard's defaults).
	Guard   *guard.Guard
	Metrics *Metrics
	Logger  *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Region is the edge's region: a consent given here is of this region.
	Region string
}

// SignIn signs buyers in: as guests, or by a code sent to their email.
// It is safe for concurrent use.
type SignIn struct {
	cfg      Config
	sessions *Sessions
	store    Store
	mailer   Mailer
	guard    *guard.Guard
	m        *Metrics
	log      *slog.Logger
	now      func() time.Time
	codeKeys [][]byte // first hashes new codes, all check
	guests   *guestLimits
	region   string
}

// Issued is a session just signed in, and its token.
type Issued struct {
	Token   string
	Session Session
	// Record is the email buyer's record (zero for guests).
	Record Record
}

// NewSignIn builds the sign-in service.
func NewSignIn(p Params) (*SignIn, error) {
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	if p.Sessions == nil || p.Store == nil || p.Mailer == nil {
		return nil, errors.New("buyer sign-in needs sessions, a store and a mailer")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Metrics == nil {
		p.Metrics = newMetrics()
	}
	if p.Guard == nil {
		g, err := guard.New(guard.Params{Config: guard.Defaults(), Logger: p.Logger, Now: p.Now})
		if err != nil {
			return nil, err
		}
		p.Guard = g
	}
	s := &SignIn{cfg: p.Config, sessions: p.Sessions, store: p.Store, mailer: p.Mailer, guard: p.Guard,
		m: p.Metrics, log: p.Logger.With("component", "buyer-signin"), now: p.Now,
		guests: newGuestLimits(p.Config.GuestRefill, p.Config.GuestsPerIP, p.Now), region: p.Region}
	for _, sec := range p.Config.SessionSecrets {
		m := hmac.New(sha256.New, []byte(sec))
		m.Write([]byte("livedrop buyer code key"))
		s.codeKeys = append(s.codeKeys, m.Sum(nil))
	}
	if len(s.codeKeys) == 0 {
		return nil, errors.New("buyer.session_secrets: empty")
	}
	return s, nil
}

// Sessions returns the sessions the service mints.
func (s *SignIn) Sessions() *Sessions { return s.sessions }

// GuestAllowed reports whether buyers may continue as guests.
func (s *SignIn) GuestAllowed() bool { return s.cfg.Guest }

// CodeTTL is how long a sent code may be entered.
func (s *SignIn) CodeTTL() time.Duration { return s.cfg.CodeTTL }

// Guest signs in a guest on device, asked from client address ip
// (guard.HostKey form): a new buyer id, no round trip. An address gets
// guests_per_ip guests at once at this edge, then guest_refill_per_s.
func (s *SignIn) Guest(device, ip string) (Issued, error) {
	if !s.cfg.Guest {
		s.m.SignIns.WithLabelValues(KindGuest, "invalid").Inc()
		return Issued{}, refuse(ErrInvalid, "guest_off", "guest sign-in is off here: sign in with your email")
	}
	if !ValidDevice(device) {
		s.m.SignIns.WithLabelValues(KindGuest, "invalid").Inc()
		return Issued{}, badDevice()
	}
	if ok, wait := s.guests.allow(ip); !ok {
		s.m.SignIns.WithLabelValues(KindGuest, "rate_limited").Inc()
		return Issued{}, &Refusal{Class: ErrRateLimited, Reason: "rate_limited", RetryAfter: wait,
			Msg: "too many guest sign-ins from this address: try again in a moment, or sign in with your email"}
	}
	tok, sess, err := s.sessions.Mint(NewGuestID(), device, KindGuest)
	if err != nil {
		return Issued{}, err
	}
	s.m.SignIns.WithLabelValues(KindGuest, "ok").Inc()
	return Issued{Token: tok, Session: sess}, nil
}

func badDevice() *Refusal {
	return refuse(ErrInvalid, "device", fmt.Sprintf("device must be %d-%d of [A-Za-z0-9_-] (the page makes one up and keeps it)", MinDeviceLen, MaxDeviceLen))
}

// SendCode mails a new code to email, asked from client address ip
// (guard.HostKey form), within the send limits; it returns how long the
// code may be entered.
func (s *SignIn) SendCode(ctx context.Context, email, ip string) (time.Duration, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return 0, refuse(ErrInvalid, "email", err.Error())
	}
	if err := s.countSend(ctx, "ip:"+ip, s.cfg.SendsPerIP, "too many codes asked from this address: try again later"); err != nil {
		return 0, err
	}
	if err := s.countSend(ctx, "email:"+emailKey(email), s.cfg.SendsPerEmail, "too many codes sent to this email: try again later"); err != nil {
		return 0, err
	}
	code, err := newCode()
	if err != nil {
		return 0, err
	}
	locked, err := s.store.PutCode(ctx, email, s.hash(s.codeKeys[0], email, code), s.cfg.CodeTTL)
	if err != nil {
		s.m.CodesSent.WithLabelValues("failed").Inc()
		return 0, err
	}
	if locked > 0 {
		s.m.CodesSent.WithLabelValues("locked").Inc()
		return 0, lockedOut(locked)
	}
	t0 := s.now()
	err = s.mailer.SendCode(ctx, email, code, s.cfg.CodeTTL)
	s.m.CodeSendSeconds.Observe(s.now().Sub(t0).Seconds())
	if err != nil {
		s.m.CodesSent.WithLabelValues("failed").Inc()
		s.log.Warn("sign-in code not sent", "err", err)
		return 0, &Refusal{Class: ErrUnavailable, Reason: "mail", Msg: "the code could not be sent: try again in a moment", RetryAfter: 5 * time.Second}
	}
	s.m.CodesSent.WithLabelValues("sent").Inc()
	return s.cfg.CodeTTL, nil
}

func (s *SignIn) countSend(ctx context.Context, key string, limit int, msg string) error {
	n, reset, err := s.store.CountSend(ctx, key, s.cfg.SendWindow)
	if err != nil {
		s.m.CodesSent.WithLabelValues("failed").Inc()
		return err
	}
	if n > limit {
		s.m.CodesSent.WithLabelValues("rate_limited").Inc()
		return &Refusal{Class: ErrRateLimited, Reason: "rate_limited", Msg: msg, RetryAfter: reset}
	}
	return nil
}

func lockedOut(d time.Duration) *Refusal {
	return &Refusal{Class: ErrLocked, Reason: "locked", RetryAfter: d,
		Msg: fmt.Sprintf("too many wrong codes: this email is locked for %v", d.Round(time.Second))}
}

// newCode is CodeLen uniform random digits.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// hash is how a code is stored: keyed, so a copy of the store does not
// give the codes away by trying all million.
func (s *SignIn) hash(key []byte, email, code string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(email))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyRequest is a code entered on a device.
type VerifyRequest struct {
	Email, Code, Device string
	// IP is the client address (guard.HostKey form).
	IP string
	// Marketing is the buyer agreeing to marketing email now.
	Marketing bool
	// Channel is where the viewer came from (the page's ?ch=; anything
	// but a channel token is kpi.Direct).
	Channel string
}

// ValidCode reports whether s has the form of a code.
func ValidCode(s string) bool {
	if len(s) != CodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// VerifyCode checks an entered code; the right one signs the email buyer
// in on the device (recording the consent given) and is used up.
func (s *SignIn) VerifyCode(ctx context.Context, r VerifyRequest) (Issued, error) {
	res := "invalid"
	defer func() { s.m.SignIns.WithLabelValues(KindEmail, res).Inc() }()
	email, err := NormalizeEmail(r.Email)
	if err != nil {
		return Issued{}, refuse(ErrInvalid, "email", err.Error())
	}
	if !ValidCode(r.Code) {
		return Issued{}, refuse(ErrInvalid, "code", fmt.Sprintf("code must be the %d digits of the email", CodeLen))
	}
	if !ValidDevice(r.Device) {
		return Issued{}, badDevice()
	}
	account := emailKey(email)[:12] // the guard logs accounts: never the email
	if v := s.guard.Check(r.IP, account); v.Locked {
		s.guard.Refused(guardSurface, r.IP, account, v)
		s.m.CodeFailures.WithLabelValues("locked").Inc()
		res = "locked"
		return Issued{}, &Refusal{Class: ErrLocked, Reason: "locked", RetryAfter: v.RetryAfter,
			Msg: fmt.Sprintf("too many wrong codes from this address: try again in %v", v.RetryAfter.Round(time.Second))}
	}
	hashes := make([]string, len(s.codeKeys))
	for i, k := range s.codeKeys {
		hashes[i] = s.hash(k, email, r.Code)
	}
	c, err := s.store.CheckCode(ctx, email, hashes, s.cfg.CodeMaxAttempts, s.cfg.CodeLockout)
	if err != nil {
		res = "unavailable"
		return Issued{}, err
	}
	switch c.Result {
	case CodeOK:
	case CodeWrong:
		s.guard.Fail(guardSurface, "wrong_code", r.IP, account)
		s.m.CodeFailures.WithLabelValues("wrong").Inc()
		res = "wrong_code"
		return Issued{}, &Refusal{Class: ErrWrongCode, Reason: "wrong_code", AttemptsLeft: c.Left,
			Msg: fmt.Sprintf("wrong code: %d tries left", c.Left)}
	case CodeNone:
		s.guard.Fail(guardSurface, "no_code", r.IP, account)
		s.m.CodeFailures.WithLabelValues("no_code").Inc()
		res = "no_code"
		return Issued{}, refuse(ErrNoCode, "no_code", "no code is waiting for this email (expired or used): ask for a new one")
	case CodeLockedUp:
		s.guard.Fail(guardSurface, "wrong_code", r.IP, account)
		s.m.CodeFailures.WithLabelValues("wrong").Inc()
		s.m.Lockouts.Inc()
		res = "locked"
		return Issued{}, lockedOut(c.RetryAfter)
	default: // CodeLocked
		s.m.CodeFailures.WithLabelValues("locked").Inc()
		res = "locked"
		return Issued{}, lockedOut(c.RetryAfter)
	}
	s.guard.Succeed(r.IP, account)
	rec, err := s.store.SignedInFrom(ctx, email, newID(emailPrefix), r.Marketing, Origin{Channel: r.Channel, Region: s.region}, s.now().UTC())
	if err != nil && rec.ID == "" {
		res = "unavailable"
		return Issued{}, err
	}
	if err != nil {
		s.log.Warn("sign-in recorded, consent KPI not updated", "err", err)
	}
	tok, sess, err := s.sessions.MintMember(rec.ID, r.Device, KindEmail, rec.Member)
	if err != nil {
		res = "unavailable"
		return Issued{}, err
	}
	res = "ok"
	return Issued{Token: tok, Session: sess, Record: rec}, nil
}

// WithdrawConsent withdraws the marketing consent of the buyer of sess
// (an email session: a guest gave none). Withdrawing twice is not an
// error; the record says consent is off either way.
func (s *SignIn) WithdrawConsent(ctx context.Context, sess Session) (Record, error) {
	if sess.Kind != KindEmail {
		return Record{}, refuse(ErrEmailOnly, "guest", "a guest session has no email and no marketing consent to withdraw: sign in with your email")
	}
	rec, withdrew, err := s.store.WithdrawConsent(ctx, sess.Buyer, s.now().UTC())
	if errors.Is(err, ErrNotFound) {
		return Record{}, refuse(ErrNotFound, "no_record", "this session's email buyer is not known here: sign in with your email again")
	}
	if err != nil && rec.ID == "" {
		return Record{}, err
	}
	if withdrew {
		s.m.ConsentWithdrawals.Inc()
	}
	if err != nil {
		s.log.Warn("consent withdrawn, KPI not updated", "err", err)
	}
	return rec, nil
}

// Counts is the seller's "new emails" KPI over [from, to): emails first
// verified, marketing consents first given (and still held), and consents
// withdrawn, in that span.
func (s *SignIn) Counts(ctx context.Context, from, to time.Time) (Counts, error) {
	return s.store.Counts(ctx, from, to)
}
