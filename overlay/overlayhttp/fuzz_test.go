package overlayhttp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/livedrop/livedrop/overlay"
)

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"type":"product","drop":"d1","sku":"tee"}`))
	f.Add([]byte(`{"type":"countdown","label":"Drop opens in","seconds":30,"drop":"d1"}`))
	f.Add([]byte(`{"type":"countdown","label":"\u0000","seconds":-1}`))
	f.Add([]byte(`{"type":"product","drop":"d1","sku":"tee"} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRequest(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, overlay.ErrInvalid) {
				t.Fatalf("error %v does not wrap overlay.ErrInvalid", err)
			}
			if statusOf(err) != 400 {
				t.Fatalf("error %v maps to %d, want 400", err, statusOf(err))
			}
			return
		}
		if len(data) > MaxBodyBytes {
			t.Fatalf("accepted a body of %d bytes", len(data))
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted an invalid request %+v: %v", req, err)
		}
	})
}
