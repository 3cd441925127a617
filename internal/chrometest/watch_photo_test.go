package chrometest_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/chrometest"
)

// TestWatchCardPhoto: the product card shows its drop's photo (GET
// /v1/drops/{drop}/photo on the edge) and the price the edge gave it (a
// regional price, USD here).
func TestWatchCardPhoto(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := chrometest.Start(t)
	_, mux, srv := newFakeWHEP(t, func(*http.Request, string) (int, string) {
		return http.StatusNotFound, "stream not found\n"
	})
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 6, 6))); err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("GET /v1/drops/d1/photo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(img.Bytes())
	})
	e := newFakeEdge(t, mux, srv.URL)
	ov := product("ov-1", "tee", "Tee", 5, "open")
	ov["price_cents"], ov["currency"] = 2900, "USD"
	e.setInitial(state(1, ov))
	p := openWatch(ctx, t, b, srv.URL+"/watch/shop1")
	mustWait(ctx, t, p, cardVisibleJS, 15*time.Second)
	mustWait(ctx, t, p, `(() => { const i = document.querySelector('[data-testid="product-card"] [data-testid="card-photo"]');
		return !!i && !i.hidden && i.complete && i.naturalWidth === 6 && i.getAttribute('src') === '/v1/drops/d1/photo'; })()`, 10*time.Second)
	if got := mustText(ctx, t, p, `[data-testid="price"]`); !strings.Contains(got, "29") {
		t.Errorf("price %q, want USD 29.00", got)
	}
}
