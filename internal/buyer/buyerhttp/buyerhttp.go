// Package buyerhttp is the HTTP adapter of package buyer: the sign-in
// routes of the viewer page (guest, email code) and the session read. It
// decodes and bounds bodies and maps buyer's refusals to status codes in
// one place (statusOf); it holds no rules.
package buyerhttp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/guard"
	"github.com/livedrop/livedrop/internal/jsonhttp"
)

// MaxBodyBytes bounds every sign-in body.
const MaxBodyBytes = 2 << 10

// API serves sign-in on an edge.
type API struct {
	signin *buyer.SignIn
	log    *slog.Logger
	seen   func(s buyer.Session, ip string)
}

// OnSession has seen told of each session this API issues or is shown
// (GET /v1/me, a page's kept session), with the client's address
// (guard.HostKey form): the edge prepares the buyer's purchase limits then,
// not at the first order. seen must not block.
func (a *API) OnSession(seen func(s buyer.Session, ip string)) { a.seen = seen }

func (a *API) tell(s buyer.Session, r *http.Request) {
	if a.seen != nil {
		a.seen(s, guard.HostKey(r.RemoteAddr))
	}
}

// New adapts signin to HTTP.
func New(signin *buyer.SignIn, logger *slog.Logger) *API {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &API{signin: signin, log: logger.With("component", "buyer-http")}
}

// Register adds POST /v1/signin/guest, POST /v1/signin/code, POST
// /v1/signin/email, GET /v1/me and DELETE /v1/me/consent.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/signin/guest", a.guest)
	mux.HandleFunc("POST /v1/signin/code", a.code)
	mux.HandleFunc("POST /v1/signin/email", a.email)
	mux.HandleFunc("GET /v1/me", a.me)
	mux.HandleFunc("DELETE /v1/me/consent", a.withdraw)
}

// GuestBody is the body of POST /v1/signin/guest.
type GuestBody struct {
	Device string `json:"device"`
}

// CodeBody is the body of POST /v1/signin/code: where to send a code.
type CodeBody struct {
	Email string `json:"email"`
}

// EmailBody is the body of POST /v1/signin/email: the code entered.
type EmailBody struct {
	Email  string `json:"email"`
	Code   string `json:"code"`
	Device string `json:"device"`
	// Marketing is the buyer ticking "send me news and offers".
	Marketing bool `json:"marketing"`
	// Channel is where the viewer came from (the watch page's ?ch= or
	// utm_source): a consent given now is of that channel.
	Channel string `json:"channel,omitempty"`
}

// SessionAnswer is a signed-in session: the token to send as
// Authorization: Bearer, and what it says.
type SessionAnswer struct {
	Token string `json:"session"`
	buyer.Session
}

// CodeAnswer says a code is on its way.
type CodeAnswer struct {
	Sent       bool  `json:"sent"`
	ExpiresInS int64 `json:"expires_in_s"`
}

// ConsentAnswer is the buyer's marketing consent after DELETE
// /v1/me/consent: off, and since when.
type ConsentAnswer struct {
	Buyer       string    `json:"buyer"`
	Marketing   bool      `json:"marketing"`
	WithdrawnAt time.Time `json:"marketing_withdrawn_at,omitzero"`
}

// ErrorBody is a refused sign-in: words, a stable code, when to retry.
type ErrorBody struct {
	Error        string `json:"error"`
	Code         string `json:"code"`
	RetryAfterMs int64  `json:"retry_after_ms,omitempty"`
	AttemptsLeft int    `json:"attempts_left,omitempty"`
}

func decode(r io.Reader, v any) error {
	if err := jsonhttp.DecodeStrict(r, MaxBodyBytes, v); err != nil {
		var mbe *http.MaxBytesError
		if errors.Is(err, jsonhttp.ErrTooLarge) || errors.As(err, &mbe) {
			return err
		}
		return &buyer.Refusal{Class: buyer.ErrInvalid, Reason: "body", Msg: err.Error()}
	}
	return nil
}

// DecodeGuest reads a guest sign-in body; the device is checked.
func DecodeGuest(r io.Reader) (GuestBody, error) {
	var b GuestBody
	if err := decode(r, &b); err != nil {
		return GuestBody{}, err
	}
	if !buyer.ValidDevice(b.Device) {
		return GuestBody{}, &buyer.Refusal{Class: buyer.ErrInvalid, Reason: "device",
			Msg: fmt.Sprintf("device must be %d-%d of [A-Za-z0-9_-]", buyer.MinDeviceLen, buyer.MaxDeviceLen)}
	}
	return b, nil
}

// DecodeCode reads a send-code body; the email is normalised.
func DecodeCode(r io.Reader) (CodeBody, error) {
	var b CodeBody
	if err := decode(r, &b); err != nil {
		return CodeBody{}, err
	}
	e, err := buyer.NormalizeEmail(b.Email)
	if err != nil {
		return CodeBody{}, &buyer.Refusal{Class: buyer.ErrInvalid, Reason: "email", Msg: err.Error()}
	}
	b.Email = e
	return b, nil
}

// DecodeEmail reads an entered code; email, code and device are checked.
func DecodeEmail(r io.Reader) (EmailBody, error) {
	var b EmailBody
	if err := decode(r, &b); err != nil {
		return EmailBody{}, err
	}
	e, err := buyer.NormalizeEmail(b.Email)
	if err != nil {
		return EmailBody{}, &buyer.Refusal{Class: buyer.ErrInvalid, Reason: "email", Msg: err.Error()}
	}
	b.Email = e
	switch {
	case !buyer.ValidCode(b.Code):
		return EmailBody{}, &buyer.Refusal{Class: buyer.ErrInvalid, Reason: "code", Msg: fmt.Sprintf("code must be the %d digits of the email", buyer.CodeLen)}
	case !buyer.ValidDevice(b.Device):
		return EmailBody{}, &buyer.Refusal{Class: buyer.ErrInvalid, Reason: "device",
			Msg: fmt.Sprintf("device must be %d-%d of [A-Za-z0-9_-]", buyer.MinDeviceLen, buyer.MaxDeviceLen)}
	}
	return b, nil
}

func (a *API) guest(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	b, err := DecodeGuest(r.Body)
	if err != nil {
		a.fail(w, err)
		return
	}
	is, err := a.signin.Guest(b.Device, guard.HostKey(r.RemoteAddr))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.tell(is.Session, r)
	jsonhttp.Write(w, http.StatusOK, SessionAnswer{Token: is.Token, Session: is.Session})
}

func (a *API) code(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	b, err := DecodeCode(r.Body)
	if err != nil {
		a.fail(w, err)
		return
	}
	ttl, err := a.signin.SendCode(r.Context(), b.Email, guard.HostKey(r.RemoteAddr))
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonhttp.Write(w, http.StatusAccepted, CodeAnswer{Sent: true, ExpiresInS: int64(ttl / time.Second)})
}

func (a *API) email(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	b, err := DecodeEmail(r.Body)
	if err != nil {
		a.fail(w, err)
		return
	}
	is, err := a.signin.VerifyCode(r.Context(), buyer.VerifyRequest{Email: b.Email, Code: b.Code, Device: b.Device,
		IP: guard.HostKey(r.RemoteAddr), Marketing: b.Marketing, Channel: b.Channel})
	if err != nil {
		a.fail(w, err)
		return
	}
	a.tell(is.Session, r)
	jsonhttp.Write(w, http.StatusOK, SessionAnswer{Token: is.Token, Session: is.Session})
}

// me answers GET /v1/me: what the presented session says (the page
// checks its kept session with it).
func (a *API) me(w http.ResponseWriter, r *http.Request) {
	tok, _ := jsonhttp.BearerToken(r)
	s, err := a.signin.Sessions().Verify(tok)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.tell(s, r)
	jsonhttp.Write(w, http.StatusOK, s)
}

// withdraw answers DELETE /v1/me/consent: the email buyer of the session
// withdraws marketing consent (again is fine: the answer is the same).
func (a *API) withdraw(w http.ResponseWriter, r *http.Request) {
	tok, _ := jsonhttp.BearerToken(r)
	s, err := a.signin.Sessions().Verify(tok)
	if err != nil {
		a.fail(w, err)
		return
	}
	rec, err := a.signin.WithdrawConsent(r.Context(), s)
	if err != nil {
		a.fail(w, err)
		return
	}
	jsonhttp.Write(w, http.StatusOK, ConsentAnswer{Buyer: rec.ID, Marketing: rec.Marketing, WithdrawnAt: rec.WithdrawnAt})
}

// statusOf maps a refusal's class to its status and code: the one place.
func statusOf(err error) (int, string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || errors.Is(err, jsonhttp.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, buyer.ErrInvalid):
		return http.StatusBadRequest, "invalid"
	case errors.Is(err, buyer.ErrWrongCode):
		return http.StatusUnauthorized, "wrong_code"
	case errors.Is(err, buyer.ErrNoCode):
		return http.StatusUnauthorized, "no_code"
	case errors.Is(err, buyer.ErrSession):
		return http.StatusUnauthorized, "session_invalid"
	case errors.Is(err, buyer.ErrEmailOnly):
		return http.StatusConflict, "email_session_required"
	case errors.Is(err, buyer.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, buyer.ErrLocked):
		return http.StatusTooManyRequests, "locked"
	case errors.Is(err, buyer.ErrRateLimited):
		return http.StatusTooManyRequests, "rate_limited"
	case errors.Is(err, buyer.ErrUnavailable):
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

// WriteRefusal answers a refused sign-in or session (also used by the
// order routes for a missing or refused session).
func WriteRefusal(w http.ResponseWriter, logger *slog.Logger, err error) {
	status, code := statusOf(err)
	body := ErrorBody{Error: err.Error(), Code: code}
	if status == http.StatusInternalServerError {
		logger.Error("sign-in failed", "err", err)
		body.Error = "internal error"
	}
	if status == http.StatusRequestEntityTooLarge {
		body.Error = fmt.Sprintf("body too large: at most %d bytes", MaxBodyBytes)
	}
	var ref *buyer.Refusal
	if errors.As(err, &ref) {
		if ref.RetryAfter > 0 {
			body.RetryAfterMs = ref.RetryAfter.Milliseconds()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ref.RetryAfter.Seconds()))))
		}
		body.AttemptsLeft = ref.AttemptsLeft
		if ref.Class == buyer.ErrSession && ref.Reason == "missing" {
			body.Code = "session_required"
		}
	}
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	if errors.Is(err, buyer.ErrSession) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop buyer"`)
	}
	jsonhttp.Write(w, status, body)
}

func (a *API) fail(w http.ResponseWriter, err error) { WriteRefusal(w, a.log, err) }
