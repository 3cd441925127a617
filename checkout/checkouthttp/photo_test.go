package checkouthttp

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/internal/dropphoto"
	"github.com/livedrop/livedrop/internal/redistest"
)

func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDropPhoto: the seller uploads a photo to a drop; it is served
// publicly with its type and caching headers (304 on its ETag); a
// duplicate gets it too; bad uploads are refused and change nothing.
// Both photo stores (Redis and the embedded store's directory).
func TestDropPhoto(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	for name, ps := range map[string]dropphoto.Store{"redis": dropphoto.NewRedisStore(rdb), "embedded": dropphoto.NewDirStore(filepath.Join(t.TempDir(), "photos"))} {
		t.Run(name, func(t *testing.T) {
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
			upload := func(drop, ctype string, body []byte, auth string) int {
				req, _ := http.NewRequest("POST", hs.URL+"/v1/drops/"+drop+"/photo", bytes.NewReader(body))
				req.Header.Set("Content-Type", ctype)
				if auth != "" {
					req.Header.Set("Authorization", "Bearer "+auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			img := testPNG(t)
			for _, tc := range []struct {
				name, drop, ctype, auth string
				body                    []byte
				want                    int
			}{
				{"no token", "d1", "image/png", "", img, http.StatusUnauthorized},
				{"not an image type", "d1", "text/plain", token, img, http.StatusBadRequest},
				{"bytes not an image", "d1", "image/png", token, []byte("<html>hello</html>"), http.StatusBadRequest},
				{"empty", "d1", "image/png", token, nil, http.StatusBadRequest},
				{"too large", "d1", "image/png", token, append(img, make([]byte, dropphoto.MaxBytes)...), http.StatusRequestEntityTooLarge},
				{"no such drop", "nope", "image/png", token, img, http.StatusNotFound},
			} {
				if code := upload(tc.drop, tc.ctype, tc.body, tc.auth); code != tc.want {
					t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
				}
			}
			if resp, err := http.Get(hs.URL + "/v1/drops/d1/photo"); err != nil || resp.StatusCode != http.StatusNotFound {
				t.Fatalf("photo before any upload: %v %v", resp.StatusCode, err)
			}
			if code := upload("d1", "image/png", img, token); code != http.StatusCreated {
				t.Fatalf("upload: %d", code)
			}
			resp, err := http.Get(hs.URL + "/v1/drops/d1/photo")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			etag := resp.Header.Get("ETag")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(got, img) || etag == "" ||
				!strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
				t.Fatalf("photo: %d %v", resp.StatusCode, resp.Header)
			}
			req, _ := http.NewRequest("GET", hs.URL+"/v1/drops/d1/photo", nil)
			req.Header.Set("If-None-Match", etag)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
				t.Fatalf("conditional read: %v %v", resp.StatusCode, err)
			}
			if code, _ := do(t, "POST", hs.URL+"/v1/drops/d1/duplicate", token, nil, `{"id":"d1b"}`); code != http.StatusCreated {
				t.Fatalf("duplicate: %d", code)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if p, err := ps.Get(ctx, "d1b"); err != nil || !bytes.Equal(p.Data, img) {
				t.Fatalf("duplicate's photo: %v", err)
			}
			if v := testutil.ToFloat64(api.photoUploads.WithLabelValues("stored")); v != 1 {
				t.Fatalf("stored uploads = %v", v)
			}
		})
	}
}
