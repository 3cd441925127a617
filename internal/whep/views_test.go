package whep

import (
	"net/http/httptest"
	"testing"
)

// TestTagOf: an offer's ?ch=, ?viewer= and ?preview= are optional; a
// channel or viewer of the wrong shape is none.
func TestTagOf(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  viewTag
	}{
		{"", viewTag{channel: "direct"}},
		{"?ch=qr&viewer=e-abc", viewTag{channel: "qr", viewer: "e-abc"}},
		{"?ch=Bad%20One&viewer=a%22b", viewTag{channel: "direct"}},
		{"?ch=social&preview=1", viewTag{channel: "social", preview: true}},
	} {
		r := httptest.NewRequest("POST", "/whep/live"+tc.query, nil)
		if got := tagOf(r); got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.query, got, tc.want)
		}
	}
}
