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

// Bearer lets through requests carrying token (compared in constant time)
// and answers 401 to the others. An empty token lets nobody through.
func Bearer(token []byte, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || len(token) == 0 || subtle.ConstantTimeCompare([]byte(tok), token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop control"`)
			Write(w, http.StatusUnauthorized, ErrorBody{Error: "missing or wrong bearer token"})
			return
		}
		next(w, r)
	})
}

// GuardedBearer is Bearer with a failure budget: a wrong token costs the
// client address's (and the "control" account's) budget in g, and a
// locked-out client gets 429 with Retry-After before its token is
// compared. A request without a token is refused (401) without cost.
func GuardedBearer(token []byte, g *guard.Guard, next http.HandlerFunc) http.Handler {
	const surface, account = "control", "control"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := guard.HostKey(r.RemoteAddr)
		if v := g.Check(ip, account); v.Locked {
			g.Refused(surface, ip, account, v)
			secs := int(math.Ceil(v.RetryAfter.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			Write(w, http.StatusTooManyRequests, ErrorBody{Error: fmt.Sprintf("too many wrong bearer tokens: try again in %d s", secs)})
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || len(token) == 0 || subtle.ConstantTimeCompare([]byte(tok), token) != 1 {
			if ok {
				g.Fail(surface, "wrong_token", ip, account)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="livedrop control"`)
			Write(w, http.StatusUnauthorized, ErrorBody{Error: "missing or wrong bearer token"})
			return
		}
		g.Succeed(ip, account)
		next(w, r)
	})
}
