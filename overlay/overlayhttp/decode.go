package overlayhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/livedrop/livedrop/overlay"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 4 << 10

var errTooLarge = errors.New("body too large")

// DecodeRequest reads the body of POST /v1/streams/{stream}/overlays: one
// JSON object of at most MaxBodyBytes, no unknown fields, checked by
// overlay.Request.Validate. Errors wrap overlay.ErrInvalid.
func DecodeRequest(r io.Reader) (overlay.Request, error) {
	var req overlay.Request
	data, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return req, fmt.Errorf("%w: read body: %w", overlay.ErrInvalid, err)
	}
	if len(data) > MaxBodyBytes {
		return req, fmt.Errorf("%w: %w: more than %d bytes", overlay.ErrInvalid, errTooLarge, MaxBodyBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return req, fmt.Errorf("%w: empty body: expected a JSON object", overlay.ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return overlay.Request{}, fmt.Errorf("%w: malformed JSON: %w", overlay.ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return overlay.Request{}, fmt.Errorf("%w: malformed JSON: data after the object", overlay.ErrInvalid)
	}
	if err := req.Validate(); err != nil {
		return overlay.Request{}, err
	}
	return req, nil
}
