package checkouthttp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/dropphoto"
	"github.com/livedrop/livedrop/internal/redistest"
)

// TestDeleteDropPhoto: DELETE /v1/drops/{id}/photo removes the stored
// photo and GET answers 404 from then on; a second delete, a drop without
// a photo and an unknown drop are 404 with words; no token is 401 and
// keeps the photo; another drop's photo stays. Both photo stores.
func TestDeleteDropPhoto(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	for name, ps := range map[string]dropphoto.Store{"redis": dropphoto.NewRedisStore(rdb), "embedded": dropphoto.NewDirStore(filepath.Join(t.TempDir(), "photos"))} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			log := slog.New(slog.DiscardHandler)
			st, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "j"), nil, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: checkout.Defaults(), Store: st})
			if err != nil {
				t.Fatal(err)
			}
			api, err := NewControlAPI(ctl, token, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := api.SetPhotos(ps, prometheus.NewRegistry()); err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			api.Register(mux)
			hs := httptest.NewServer(mux)
			t.Cleanup(hs.Close)
			if code, _ := do(t, "POST", hs.URL+"/v1/drops", token, nil, dropJSON); code != http.StatusCreated {
				t.Fatalf("create: %d", code)
			}
			if code, _ := do(t, "POST", hs.URL+"/v1/drops/d1/duplicate", token, nil, `{"id":"d2"}`); code != http.StatusCreated {
				t.Fatalf("duplicate: %d", code)
			}
			img := testPNG(t)
			for _, d := range []string{"d1", "d2"} {
				p, err := dropphoto.New(img)
				if err != nil {
					t.Fatal(err)
				}
				if err := ps.Put(ctx, d, p); err != nil {
					t.Fatal(err)
				}
			}
			get := func(drop string) int {
				resp, err := http.Get(hs.URL + "/v1/drops/" + drop + "/photo")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if code, body := do(t, "DELETE", hs.URL+"/v1/drops/d1/photo", "", nil, ""); code != http.StatusUnauthorized || get("d1") != 200 {
				t.Fatalf("no token: %d %v; the photo must stay", code, body)
			}
			code, body := do(t, "DELETE", hs.URL+"/v1/drops/d1/photo", token, nil, "")
			if code != http.StatusOK || body["deleted"] != true || body["drop"] != "d1" {
				t.Fatalf("delete: %d %v", code, body)
			}
			if _, err := ps.Get(ctx, "d1"); !errors.Is(err, dropphoto.ErrNotFound) {
				t.Fatalf("stored photo after the delete: %v, want none", err)
			}
			if c := get("d1"); c != http.StatusNotFound {
				t.Fatalf("GET after the delete: %d, want 404", c)
			}
			if p, err := ps.Get(ctx, "d2"); err != nil || !bytes.Equal(p.Data, img) || get("d2") != 200 {
				t.Fatalf("the other drop's photo: %v", err)
			}
			for _, tc := range []struct{ name, drop, word string }{
				{"again", "d1", "has no photo"},
				{"unknown drop", "nope", "not found"},
			} {
				code, body := do(t, "DELETE", hs.URL+"/v1/drops/"+tc.drop+"/photo", token, nil, "")
				if msg, _ := body["error"].(string); code != http.StatusNotFound || !bytes.Contains([]byte(msg), []byte(tc.word)) {
					t.Errorf("%s: %d %v, want 404 saying %q", tc.name, code, body, tc.word)
				}
			}
		})
	}
}
