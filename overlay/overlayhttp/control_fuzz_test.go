package overlayhttp

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/livedrop/livedrop/overlay"
)

// FuzzControlPin posts fuzzed bodies to POST /v1/streams/cam1/overlays of a
// real origin overlay service (drops in an embedded store). Properties: the
// answer is 201, 400, 404 or 409 with a JSON reason, never a 5xx; a pinned
// overlay is listed, and unpinning it answers 204 and unlists it. Seeds are
// the seller console's and the README's pin and countdown bodies.
func FuzzControlPin(f *testing.F) {
	srv, _ := originServer(f, overlay.Defaults())
	base := srv.URL + "/v1/streams/cam1/overlays"
	f.Fuzz(func(t *testing.T, body []byte) {
		code, res := pinCall(t, http.MethodPost, base, string(body))
		switch code {
		case http.StatusCreated:
			var o overlay.Overlay
			if err := json.Unmarshal(res, &o); err != nil || !overlay.ValidOverlayID(o.ID) {
				t.Fatalf("201 with %q (%v)", res, err)
			}
			if _, list := pinCall(t, http.MethodGet, base, ""); !strings.Contains(string(list), `"`+o.ID+`"`) {
				t.Fatalf("pinned overlay %s not listed: %s", o.ID, list)
			}
			if code, res := pinCall(t, http.MethodDelete, base+"/"+o.ID, ""); code != http.StatusNoContent {
				t.Fatalf("unpin %s: %d %s", o.ID, code, res)
			}
			if _, list := pinCall(t, http.MethodGet, base, ""); strings.Contains(string(list), `"`+o.ID+`"`) {
				t.Fatalf("unpinned overlay %s still listed: %s", o.ID, list)
			}
		case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict:
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(res, &e); err != nil || strings.TrimSpace(e.Error) == "" {
				t.Fatalf("%d without a JSON reason: %q", code, res)
			}
		default:
			t.Fatalf("POST overlays %q: %d %s", body, code, res)
		}
	})
}

func pinCall(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
