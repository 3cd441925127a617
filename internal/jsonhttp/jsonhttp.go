// Package jsonhttp holds what the JSON HTTP adapters share: strict body
// decoding, JSON answers and errors, and the bearer-token check. Each
// adapter still maps its own errors to status codes.
package jsonhttp

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/livedrop/livedrop/internal/guard"
)

// ErrTooLarge marks a body over its limit.
var ErrTooLarge = errors.New("body too large")

// DecodeStrict decodes exactly one JSON object of at most limit bytes, with
// no unknown fields, into v.
func DecodeStrict(r io.Reader, limit int64, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty body: expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: data after the object")
	}
	return nil
}

// ErrorBody is every error answer: {"error": "..."}.
type ErrorBody struct {
	Error string `json:"error"`
}

// Write answers with v as JSON.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Error answers err with code. An internal error is logged and its text
// withheld; 429 and 503 say when to retry.
func Error(w http.ResponseWriter, logger *slog.Logger, code int, err error) {
	msg := err.Error()
	switch code {
	case http.StatusInternalServerError:
		logger.Error("request failed", "err", err)
		msg = "internal error"
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	}
	Write(w, code, ErrorBody{Error: msg})
}

// BearerToken is the token of an "Authorization: Bearer" header (the
// scheme in any case, surrounding space trimmed), and whether there is one.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	return tok, tok != ""
}

// GuardedBearer lets through requests carrying token (compared in
// constant time), with a failure budget: a wrong token costs the
// client address's (and the "control" account's) budget in g, and a
// locked-out client gets 429 with Retry-After before its token is
// compared. A request without a token is refused (401) without cost.
func GuardedBearer(token []byte, g *guard.Guard, next http.HandlerFunc) http.Handler {
	const surface, account = "control", "control"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, presented := BearerToken(r)
		ok, v := g.Try(guard.Attempt{Surface: surface, IP: guard.HostKey(r.RemoteAddr), Account: account,
			Presented: presented, Reason: "wrong_token"}, func() bool {
			return presented && len(token) > 0 && subtle.ConstantTimeCompare([]byte(tok), token) == 1
		})
		switch {
		case ok:
			next(w, r)
		case v.Locked:
			secs := int(math.Ceil(v.RetryAfter.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			Write(w, http.StatusTooManyRequests, ErrorBody{Error: fmt.Sprintf("too many wrong bearer tokens: try again in %d s", secs)})
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop control"`)
			Write(w, http.StatusUnauthorized, ErrorBody{Error: "missing or wrong bearer token"})
		}
	})
}
