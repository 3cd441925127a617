package buyer

import (
	"context"
	"time"
)

// Store keeps what sign-in shares across edges: pending codes (hashed),
// lockouts, send counters and the email buyers' records. RedisStore and
// MemStore implement it with the same semantics; each call is atomic.
type Store interface {
	// PutCode makes hash the pending code of the email key for ttl,
	// replacing an earlier one but keeping its count of wrong tries. While
	// the email is locked it stores nothing and returns the lockout left.
	PutCode(ctx context.Context, email string, hash string, ttl time.Duration) (locked time.Duration, err error)
	// CheckCode compares the pending code of email with hashes (the code
	// entered, hashed under each key). A match uses the code up; a miss
	// counts, and the maxTries-th miss drops the code and locks the email
	// for lockout.
	CheckCode(ctx context.Context, email string, hashes []string, maxTries int, lockout time.Duration) (CodeCheck, error)
	// CountSend counts one send against key in a fixed window and returns
	// the count so far and when the window ends.
	CountSend(ctx context.Context, key string, window time.Duration) (n int, resetIn time.Duration, err error)
	// SignedIn records that email signed in at at: it makes the buyer
	// (with id newID) on the first sign-in, records marketing consent when
	// given (the first time it was given is kept), and returns the record.
	SignedIn(ctx context.Context, email, newID string, marketing bool, at time.Time) (Record, error)
	// SignedInFrom is SignedIn from origin from: the sign-in that first
	// gives marketing consent records its origin on the record (kept, like
	// MarketingAt, when consent is withdrawn and given again).
	SignedInFrom(ctx context.Context, email, newID string, marketing bool, from Origin, at time.Time) (Record, error)
	// WithdrawConsent withdraws the marketing consent of the email buyer
	// with id buyerID at at. It reports whether this call withdrew it
	// (false: there was none to withdraw, the record is unchanged) and
	// returns the record; a buyer the store does not know is ErrNotFound.
	// A later sign-in that ticks marketing gives consent again.
	WithdrawConsent(ctx context.Context, buyerID string, at time.Time) (rec Record, withdrew bool, err error)
	// SetMember sets or clears the member flag of email (a seller's list:
	// the email need not have signed in yet); the next sign-in reads it.
	SetMember(ctx context.Context, email string, member bool) error
	// Counts counts the emails first verified, the marketing consents
	// first given (and not withdrawn since), and the consents withdrawn,
	// in [from, to); the consents also per channel and per region of the
	// sign-in that gave them.
	Counts(ctx context.Context, from, to time.Time) (Counts, error)
}

// CodeResult is the outcome of CheckCode.
type CodeResult string

// Code results.
const (
	CodeOK       CodeResult = "ok"
	CodeWrong    CodeResult = "wrong"
	CodeNone     CodeResult = "none"      // none pending (never sent, expired, used)
	CodeLocked   CodeResult = "locked"    // the email was locked already
	CodeLockedUp CodeResult = "locked_up" // this miss locked it
)

// CodeCheck is what CheckCode found.
type CodeCheck struct {
	Result CodeResult
	// Left is the tries left after a wrong code.
	Left int
	// RetryAfter is the lockout left (CodeLocked, CodeLockedUp).
	RetryAfter time.Duration
}

// Record is an email buyer.
type Record struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	// EmailAt is when the email was first verified: the buyer's consent
	// to be known by it.
	EmailAt time.Time `json:"email_at"`
	// Marketing is whether the buyer agreed to marketing email, and
	// MarketingAt when they first did.
	Marketing   bool      `json:"marketing"`
	MarketingAt time.Time `json:"marketing_at,omitzero"`
	// WithdrawnAt is when the buyer last withdrew marketing consent (zero
	// when they never did, or gave it again since).
	WithdrawnAt time.Time `json:"marketing_withdrawn_at,omitzero"`
	LastSignIn  time.Time `json:"last_sign_in"`
	// Member is the seller's member flag of the email at this sign-in.
	Member bool `json:"member,omitempty"`
	// Origin is where the sign-in that first gave marketing consent came
	// from (zero until consent is given).
	Origin Origin `json:"consent_origin,omitzero"`
}

// Counts are the seller's email KPIs over a span.
type Counts struct {
	// NewEmails are buyers whose email was first verified in the span.
	NewEmails int `json:"new_emails"`
	// MarketingConsents are buyers who first agreed to marketing in it
	// and still agree: a withdrawn consent is no longer counted.
	MarketingConsents int `json:"marketing_consents"`
	// Withdrawn are buyers who withdrew marketing consent in the span
	// (and have not given it again).
	Withdrawn int `json:"marketing_withdrawn"`
	// ConsentsByChannel and ConsentsByRegion split MarketingConsents by
	// the origin of each consent (nil when there is none); a consent
	// recorded without an origin is kpi.Direct and region "".
	ConsentsByChannel map[string]int `json:"marketing_consents_by_channel,omitempty"`
	ConsentsByRegion  map[string]int `json:"marketing_consents_by_region,omitempty"`
}
