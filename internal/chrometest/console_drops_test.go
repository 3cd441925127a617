package chrometest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
)

// TestConsoleDrops: in the console the seller creates a drop with a photo
// and two regional prices, scheduled a few seconds ahead; it opens on
// time; a viewer at the us edge buys at the us price; the order shows in
// the live feed within a second; the seller refunds it from the console,
// and the stock left goes back up and the report's revenue goes down.
func TestConsoleDrops(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dk := openDesk(ctx, t)
	st, photos, base, p, buyers, pins := dk.st, dk.photos, dk.base, dk.p, dk.buyers, dk.pins

	// The form, as the seller fills it: the photo is a file picked in the
	// file input (a DataTransfer here), the opening 10 s ahead (the state is checked before it).
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	fill := `(() => {
	  const set = (id, v) => { const e = document.querySelector('[data-testid="drop-form-' + id + '"]'); e.value = v; e.dispatchEvent(new Event('input')); };
	  set('id', 'spring'); set('stream', 'demo'); set('name', 'Spring tee'); set('sku', 'tee');
	  set('stock', '5'); set('max', '2'); set('price', '25.00'); set('currency', 'EUR');
	  set('prices', 'eu EUR 24.00, us USD 29.00'); set('early', '');
	  const at = new Date(Date.now() + 10000);
	  const pad = (n) => String(n).padStart(2, '0');
	  set('opens', at.getFullYear() + '-' + pad(at.getMonth() + 1) + '-' + pad(at.getDate()) + 'T' + pad(at.getHours()) + ':' + pad(at.getMinutes()) + ':' + pad(at.getSeconds()));
	  const bytes = Uint8Array.from(atob('` + base64.StdEncoding.EncodeToString(img.Bytes()) + `'), (c) => c.charCodeAt(0));
	  const dt = new DataTransfer();
	  dt.items.add(new File([bytes], 'tee.png', { type: 'image/png' }));
	  document.querySelector('[data-testid="drop-form-photo"]').files = dt.files;
	  return true;
	})()`
	var ok bool
	if err := p.Eval(ctx, fill, &ok); err != nil || !ok {
		t.Fatalf("fill the form: %v", err)
	}
	if err := p.Click(ctx, tid("drop-form-save")); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, exists("drop-row-spring")+` !== null && `+exists("ros-spring")+` !== null`, 10*time.Second)
	d, err := st.Drop(ctx, "spring")
	if err != nil {
		t.Fatal(err)
	}
	k := d.SKUs[0]
	if d.State != checkout.StateCreated || d.OpensAt.IsZero() || k.Name != "Spring tee" || k.Stock != 5 || k.MaxPerBuyer != 2 || k.PriceCents != 2500 ||
		k.Prices["eu"] != (checkout.RegionalPrice{Currency: "EUR", Cents: 2400}) || k.Prices["us"] != (checkout.RegionalPrice{Currency: "USD", Cents: 2900}) {
		t.Fatalf("drop as stored: %+v", d)
	}
	if ph, err := photos.Get(ctx, "spring"); err != nil || !bytes.Equal(ph.Data, img.Bytes()) {
		t.Fatalf("photo: %v", err)
	}
	if resp, err := http.Get(base + "/v1/drops/spring/photo"); err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("public photo: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The run of show has it next: Pin next puts its product on screen.
	if err := p.Click(ctx, tid("pin-next")); err != nil {
		t.Fatal(err)
	}
	select {
	case pin := <-pins:
		if pin["type"] != "product" || pin["drop"] != "spring" || pin["sku"] != "tee" || pin["stream"] != "demo" {
			t.Fatalf("pin next: %v", pin)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pin next pinned nothing")
	}

	// It opens on time, by itself.
	for {
		cur, err := st.Drop(ctx, "spring")
		if err != nil {
			t.Fatal(err)
		}
		if cur.State == checkout.StateOpen {
			break
		}
		if time.Now().After(d.OpensAt.Add(5 * time.Second)) {
			t.Fatalf("still %s 5 s after opens_at", cur.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if late := time.Since(d.OpensAt); late < 0 || late > 2*time.Second {
		t.Fatalf("opened %v after opens_at", late)
	}
	// The seller takes it into the drop panel; its live feed connects.
	if err := p.Click(ctx, tid("drop-use-spring")); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, `window.livedropOrders && window.livedropOrders.live() && document.querySelector('[data-testid="left"]').textContent.trim() === '5'`, 15*time.Second)

	// A viewer at the us edge buys, at the us price.
	req, _ := http.NewRequest("POST", base+"/v1/drops/spring/orders", strings.NewReader(`{"sku":"tee","qty":1}`))
	req.Header.Set("Authorization", "Bearer "+buyers.Token("viewer1"))
	req.Header.Set("Idempotency-Key", "k1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var o checkouthttp.PlacedOrder
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sold := time.Now()
	if err := json.Unmarshal(body, &o); err != nil || resp.StatusCode != http.StatusCreated || o.PriceCents != 2900 || o.Currency != "USD" {
		t.Fatalf("order: %d %s", resp.StatusCode, body)
	}
	row := `document.querySelector('[data-testid="order-` + o.ID + `"]')`
	// Within a second of the store recording it (the edge records it as it ships).
	for {
		if _, err := st.Order(ctx, o.ID); err == nil {
			sold = time.Now()
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mustWait(ctx, t, p, row+` !== null`, time.Second)
	t.Logf("order in the console %v after the store recorded it", time.Since(sold))
	waitPaid(ctx, t, st, o.ID)
	mustWait(ctx, t, p, `document.querySelector('[data-testid="left"]').textContent.trim() === '4'`, 10*time.Second)
	// The revenue is in the order's currency (USD), never added to the
	// SKU's EUR.
	if err := p.WaitFor(ctx, `(t => t.includes('29.00') && t.includes('$') && !t.includes('€'))(document.querySelector('[data-testid="revenue"]').textContent)`, 10*time.Second); err != nil {
		got, _ := p.Text(ctx, tid("revenue"))
		t.Fatalf("console revenue %q, want USD 29.00 only", got)
	}
	before := revenue(ctx, t, base, "spring")
	if before != 2900 {
		t.Fatalf("report revenue before the refund: %d", before)
	}

	// Refund it from the console, its unit back on sale.
	mustWait(ctx, t, p, row+`.querySelector('[data-testid="order-status"]').textContent === 'paid'`, 10*time.Second)
	if err := p.Click(ctx, tid("order-"+o.ID)+` [data-testid="order-refund"]`); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, p, row+`.querySelector('[data-testid="order-status"]').textContent === 'refunded'`, 10*time.Second)
	mustWait(ctx, t, p, `document.querySelector('[data-testid="left"]').textContent.trim() === '5'`, 10*time.Second)
	tt, _ := st.Totals(ctx, "spring")
	if s := tt.SKUs[0]; s.Free != 5 || s.Sold != 0 || s.Refunded != 1 {
		t.Fatalf("totals after the refund: %+v", s)
	}
	if after := revenue(ctx, t, base, "spring"); after != 0 {
		t.Fatalf("report revenue after the refund: %d, want 0", after)
	}
}

func waitPaid(ctx context.Context, t *testing.T, st checkout.Store, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := st.Order(ctx, id)
		if err == nil && o.Status == checkout.StatusPaid {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s not paid: %+v %v", id, o, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// revenue reads the event report's revenue of drop.
func revenue(ctx context.Context, t *testing.T, base, drop string) int64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/drops/"+drop+"/report", nil)
	req.Header.Set("Authorization", "Bearer "+consoleToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Total struct {
			RevenueCents int64 `json:"revenue_cents"`
		} `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("report: %d %v", resp.StatusCode, err)
	}
	return r.Total.RevenueCents
}
