package buyer

import (
	"errors"
	"time"
)

// Sentinel errors; a Refusal wraps one of them with words for the buyer.
var (
	// ErrInvalid: malformed input (an email, a code, a device id).
	ErrInvalid = errors.New("invalid")
	// ErrWrongCode: the code does not match the one sent.
	ErrWrongCode = errors.New("wrong code")
	// ErrNoCode: no code is pending for the email (never sent, expired or used).
	ErrNoCode = errors.New("no code pending")
	// ErrLocked: too many wrong codes; the email is locked for a while.
	ErrLocked = errors.New("locked")
	// ErrRateLimited: too many codes asked for, from this address or for this email.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: the store or the mail relay did not answer.
	ErrUnavailable = errors.New("unavailable")
	// ErrSession: a session token that is missing, forged, expired or malformed.
	ErrSession = errors.New("session refused")
	// ErrNotFound: the store has no email buyer with this id.
	ErrNotFound = errors.New("not found")
	// ErrEmailOnly: what was asked needs an email session (a guest has no
	// email, no consent, no membership).
	ErrEmailOnly = errors.New("email session required")
)

// Refusal is why a sign-in or a session was refused: the class (one of the
// sentinels), words for the buyer, and when it may be tried again.
type Refusal struct {
	Class error
	Msg   string
	// Reason is a metric label ("wrong_code", "expired", "unknown_key", ...).
	Reason string
	// RetryAfter is how long a lockout or a rate limit still lasts.
	RetryAfter time.Duration
	// AttemptsLeft is how many wrong codes are left before a lockout.
	AttemptsLeft int
}

func (r *Refusal) Error() string { return r.Msg }
func (r *Refusal) Unwrap() error { return r.Class }

func refuse(class error, reason, msg string) *Refusal {
	return &Refusal{Class: class, Reason: reason, Msg: msg}
}
