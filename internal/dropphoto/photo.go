// Package dropphoto keeps each drop's product photo where every node can
// serve it: on the checkout store's Redis, or in a directory beside the
// embedded store (the demo).
package dropphoto

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
)

// MaxBytes bounds one photo.
const MaxBytes = 2 << 20

// Types are the image types a photo may be (sniffed from its bytes).
var Types = []string{"image/jpeg", "image/png", "image/webp"}

// Errors.
var (
	ErrNotFound = errors.New("no photo")
	ErrInvalid  = errors.New("invalid photo")
	ErrTooLarge = fmt.Errorf("photo larger than %d bytes", MaxBytes)
)

// Photo is one stored photo.
type Photo struct {
	Type string
	Data []byte
	// ETag is a strong validator of Data (quoted, as HTTP sends it).
	ETag string
}

// Store keeps photos by drop id.
type Store interface {
	Put(ctx context.Context, drop string, p Photo) error
	Get(ctx context.Context, drop string) (Photo, error)
	// Delete removes drop's photo; ErrNotFound when it has none.
	Delete(ctx context.Context, drop string) error
}

// New checks data and makes a Photo of it: it must be 1-MaxBytes bytes of
// JPEG, PNG or WebP, whatever the client said it was.
func New(data []byte) (Photo, error) {
	if len(data) == 0 {
		return Photo{}, fmt.Errorf("%w: empty body", ErrInvalid)
	}
	if len(data) > MaxBytes {
		return Photo{}, ErrTooLarge
	}
	typ := http.DetectContentType(data)
	for _, t := range Types {
		if typ == t {
			sum := sha256.Sum256(data)
			return Photo{Type: typ, Data: data, ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}, nil
		}
	}
	return Photo{}, fmt.Errorf("%w: the bytes are %s, not JPEG, PNG or WebP", ErrInvalid, typ)
}
