package buyerhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/livedrop/livedrop/internal/buyer"
)

var fuzzRoutes = []string{"/v1/signin/guest", "/v1/signin/code", "/v1/signin/email"}

// FuzzSignInHandlers posts any body to the sign-in routes: every answer
// is JSON, a refusal has an error and a code, nothing is a 500, and a
// session is issued only for a body that decodes.
func FuzzSignInHandlers(f *testing.F) {
	f.Add(uint8(0), []byte(`{"device":"d-0123456789abcdef"}`))
	f.Add(uint8(1), []byte(`{"email":"ann@example.com"}`))
	f.Add(uint8(2), []byte(`{"email":"ann@example.com","code":"123456","device":"d-0123456789abcdef","marketing":true}`))
	f.Add(uint8(2), []byte(`{"email":"ann@example.com","code":"1234567","device":"d"}`))
	f.Add(uint8(1), []byte(`{"email":"\u0000@x.y"}`))
	api := newAPI(f, nil)
	mux := http.NewServeMux()
	api.Register(mux)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", path, bytes.NewReader(body))
		r.RemoteAddr = "192.0.2.1:1234"
		mux.ServeHTTP(w, r)
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s: non-JSON answer %d %q", path, w.Code, w.Body.Bytes())
		}
		switch w.Code {
		case 200:
			if _, err := decodeFor(path, body); err != nil || m["session"] == nil {
				t.Fatalf("%s: session for %q (%v)", path, body, err)
			}
		case 202:
			if _, err := DecodeCode(bytes.NewReader(body)); err != nil {
				t.Fatalf("code sent for %q: %v", body, err)
			}
		case 400, 401, 413, 429:
			if m["error"] == nil || m["code"] == nil {
				t.Fatalf("%s: refusal without error and code: %v", path, m)
			}
		default:
			t.Fatalf("%s: status %d %v", path, w.Code, m)
		}
	})
}

func decodeFor(path string, body []byte) (any, error) {
	switch path {
	case "/v1/signin/guest":
		return DecodeGuest(bytes.NewReader(body))
	case "/v1/signin/email":
		return DecodeEmail(bytes.NewReader(body))
	}
	return nil, errors.New("no session route")
}

// FuzzDecodeEmail: a decoded body always holds a normal email, a code of
// six digits and a valid device; a refusal is always invalid input.
func FuzzDecodeEmail(f *testing.F) {
	f.Add([]byte(`{"email":" Ann@Example.com ","code":"000000","device":"d-0123456789"}`))
	f.Add([]byte(`{"email":"a@b","code":"0","device":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeEmail(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, buyer.ErrInvalid) && len(data) <= MaxBodyBytes {
				t.Fatalf("error %v is not invalid input", err)
			}
			return
		}
		if e, err := buyer.NormalizeEmail(b.Email); err != nil || e != b.Email || !buyer.ValidCode(b.Code) || !buyer.ValidDevice(b.Device) {
			t.Fatalf("accepted %+v", b)
		}
	})
}
