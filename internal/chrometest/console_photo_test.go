package chrometest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/dropphoto"
)

// TestConsolePhotoDelete: a drop's row shows its photo and a "Remove
// photo" button; cancelling the confirmation keeps it; confirming removes
// the stored photo (GET answers 404), and the row falls back to no photo
// and no button, also after the list reloads. A drop without a photo never
// shows the button.
func TestConsolePhotoDelete(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dk := openDesk(ctx, t)
	for _, id := range []string{"pic", "plain"} {
		dk.control(ctx, t, "POST", "/v1/drops", "application/json", []byte(`{"id":"`+id+`","stream":"demo",
		  "skus":[{"sku":"tee","name":"Tee","price_cents":2000,"currency":"EUR","stock":3}]}`), 201)
	}
	dk.control(ctx, t, "POST", "/v1/drops/pic/photo", "image/png", pngOf(t, 7), 201)
	if err := dk.p.Click(ctx, tid("drops-refresh")); err != nil {
		t.Fatal(err)
	}
	shown := func(id string) string {
		return `(i => !!i && !i.hidden && i.complete && i.naturalWidth === 7)(document.querySelector('[data-testid="drop-photo-` + id + `"]'))`
	}
	button := func(id string) string {
		return `document.querySelector('[data-testid="drop-photo-delete-` + id + `"]')`
	}
	mustWait(ctx, t, dk.p, shown("pic")+` && !`+button("pic")+`.hidden`, 10*time.Second)
	mustWait(ctx, t, dk.p, button("plain")+` !== null && `+button("plain")+`.hidden && document.querySelector('[data-testid="drop-photo-plain"]').hidden`, 10*time.Second)

	confirm := func(yes bool) {
		t.Helper()
		v := "false"
		if yes {
			v = "true"
		}
		var ok bool
		if err := dk.p.Eval(ctx, `window.confirm = (msg) => { window.lastConfirm = msg; return `+v+`; }; true`, &ok); err != nil || !ok {
			t.Fatalf("stub confirm: %v", err)
		}
	}
	confirm(false)
	if err := dk.p.Click(ctx, tid("drop-photo-delete-pic")); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, dk.p, `String(window.lastConfirm).includes('pic')`, 5*time.Second)
	if _, err := dk.photos.Get(ctx, "pic"); err != nil {
		t.Fatalf("a cancelled removal removed the photo: %v", err)
	}

	confirm(true)
	if err := dk.p.Click(ctx, tid("drop-photo-delete-pic")); err != nil {
		t.Fatal(err)
	}
	dk.say(ctx, t, "ok", "Removed the photo of pic")
	if _, err := dk.photos.Get(ctx, "pic"); !errors.Is(err, dropphoto.ErrNotFound) {
		t.Fatalf("stored photo after the removal: %v, want none", err)
	}
	resp, err := http.Get(dk.base + "/v1/drops/pic/photo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET after the removal: %d, want 404", resp.StatusCode)
	}
	gone := `document.querySelector('[data-testid="drop-photo-pic"]').hidden && ` + button("pic") + `.hidden`
	mustWait(ctx, t, dk.p, gone, 5*time.Second)
	if err := dk.p.Click(ctx, tid("drops-refresh")); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, dk.p, gone+` && document.querySelector('[data-testid="drop-row-pic"]') !== null`, 5*time.Second)

	// A fresh look (a new thumbnail, as a reopened console makes) finds
	// no photo either: the card falls back to none.
	var hidden bool
	if err := dk.p.Eval(ctx, `new Promise((done) => { const i = new Image(); i.onload = () => done(false); i.onerror = () => done(true);
	  i.src = '/v1/drops/pic/photo?fresh=' + Date.now(); })`, &hidden); err != nil || !hidden {
		t.Fatalf("a fresh load of the removed photo: hidden=%v %v, want it to fail", hidden, err)
	}
}
