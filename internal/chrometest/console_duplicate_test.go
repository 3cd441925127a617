package chrometest_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
)

// TestConsoleDuplicate: the Duplicate button of an open drop that sold a
// unit makes a new drop under the id the seller types: the same stream,
// SKUs (name, prices per region, member price, limits) and photo,
// in state created with all its stock and no opening time; the source is
// unchanged. An id already taken is refused with words, and cancelling
// the prompt makes nothing.
func TestConsoleDuplicate(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dk := openDesk(ctx, t)
	dk.control(ctx, t, "POST", "/v1/drops", "application/json", []byte(`{"id":"summer","stream":"demo",
	  "skus":[{"sku":"cap","name":"Summer cap","price_cents":2000,"member_price_cents":1500,"currency":"EUR","stock":5,"max_per_buyer":2,
	    "prices":{"us":{"currency":"USD","cents":2300}}}]}`), 201)
	photo := pngOf(t, 5)
	dk.control(ctx, t, "POST", "/v1/drops/summer/photo", "image/png", photo, 201)
	dk.control(ctx, t, "POST", "/v1/drops/summer/open", "", nil, 200)
	src, err := dk.st.Drop(ctx, "summer")
	if err != nil {
		t.Fatal(err)
	}
	// A sale at the us edge, so the copy's stock is seen to be fresh.
	req, _ := http.NewRequestWithContext(ctx, "POST", dk.base+"/v1/drops/summer/orders", strings.NewReader(`{"sku":"cap","qty":1}`))
	req.Header.Set("Authorization", "Bearer "+dk.buyers.Token("viewer1"))
	req.Header.Set("Idempotency-Key", "k1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("order: %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if tt, err := dk.st.Totals(ctx, "summer"); err == nil && tt.SKUs[0].Sold == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sale never reached the store")
		}
	}

	answer := func(v string) {
		t.Helper()
		js := `window.prompt = (msg, def) => { window.lastPrompt = def; return ` + v + `; }; true`
		var ok bool
		if err := dk.p.Eval(ctx, js, &ok); err != nil || !ok {
			t.Fatalf("stub the prompt: %v", err)
		}
	}
	mustWait(ctx, t, dk.p, exists("drop-duplicate-summer")+` !== null`, 10*time.Second)
	answer(`null`) // the seller cancels
	if err := dk.p.Click(ctx, tid("drop-duplicate-summer")); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, dk.p, `window.lastPrompt === 'summer-copy'`, 5*time.Second)
	answer(`' summer-2 '`)
	if err := dk.p.Click(ctx, tid("drop-duplicate-summer")); err != nil {
		t.Fatal(err)
	}
	dk.say(ctx, t, "ok", "Duplicated summer as summer-2")
	mustWait(ctx, t, dk.p, exists("drop-row-summer-2")+` !== null && `+exists("drop-row-summer-2")+`.dataset.state === 'created'`, 10*time.Second)
	ids, err := dk.st.ListDrops(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("drops %v %v, want summer and summer-2 (the cancelled prompt made none)", ids, err)
	}

	cp, err := dk.st.Drop(ctx, "summer-2")
	if err != nil {
		t.Fatal(err)
	}
	if cp.State != checkout.StateCreated || !cp.OpensAt.IsZero() || cp.Stream != src.Stream || cp.Gate != src.Gate ||
		!reflect.DeepEqual(cp.SKUs, src.SKUs) {
		t.Fatalf("copy %+v, want the fields of %+v, created, unscheduled", cp, src)
	}
	tt, err := dk.st.Totals(ctx, "summer-2")
	if err != nil || tt.SKUs[0].Free != 5 || tt.SKUs[0].Sold != 0 || tt.SKUs[0].Orders != 0 {
		t.Fatalf("copy totals %+v %v, want all 5 free", tt, err)
	}
	if ph, err := dk.photos.Get(ctx, "summer-2"); err != nil || !bytes.Equal(ph.Data, photo) {
		t.Fatalf("copy photo: %v", err)
	}
	if s, err := dk.st.Drop(ctx, "summer"); err != nil || s.State != checkout.StateOpen {
		t.Fatalf("source after the copy: %+v %v", s, err)
	}
	if tt, err := dk.st.Totals(ctx, "summer"); err != nil || tt.SKUs[0].Sold != 1 {
		t.Fatalf("source totals after the copy: %+v %v", tt, err)
	}
	// The copy's row lets the seller edit it (a created drop).
	mustWait(ctx, t, dk.p, exists("drop-edit-summer-2")+` !== null && !`+exists("drop-edit-summer-2")+`.disabled`, 5*time.Second)

	// An id already taken: refused, in words, nothing changed.
	answer(`'summer-2'`)
	if err := dk.p.Click(ctx, tid("drop-duplicate-summer")); err != nil {
		t.Fatal(err)
	}
	dk.say(ctx, t, "error", "409 drop summer-2: drop already exists")
	if _, err := dk.st.Drop(ctx, "summer-copy"); !errors.Is(err, checkout.ErrNotFound) {
		t.Fatalf("summer-copy: %v, want none", err)
	}
}
