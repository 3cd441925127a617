package overlayhttp

import (
	"fmt"
	"io"

	"github.com/livedrop/livedrop/internal/jsonhttp"
	"github.com/livedrop/livedrop/overlay"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 4 << 10

// DecodeRequest reads the body of POST /v1/streams/{stream}/overlays: one
// JSON object of at most MaxBodyBytes, no unknown fields, checked by
// overlay.Request.Validate. Errors wrap overlay.ErrInvalid.
func DecodeRequest(r io.Reader) (overlay.Request, error) {
	var req overlay.Request
	if err := jsonhttp.DecodeStrict(r, MaxBodyBytes, &req); err != nil {
		return overlay.Request{}, fmt.Errorf("%w: %w", overlay.ErrInvalid, err)
	}
	if err := req.Validate(); err != nil {
		return overlay.Request{}, err
	}
	return req, nil
}
