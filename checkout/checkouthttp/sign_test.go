package checkouthttp

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// TestSignQRDecodesToTheChannelLink: a drop's QR sign for ?ch=qr decodes
// (with an independent decoder) to its stream's watch link with ch=qr; the
// sign's facts name the stream and the product; a made-up channel and an
// unknown drop are refused.
func TestSignQRDecodesToTheChannelLink(t *testing.T) {
	e := start(t, nil)
	if code, _ := do(t, "POST", e.control+"/v1/drops", token, nil, dropJSON); code != 201 {
		t.Fatalf("create: %d", code)
	}
	res, err := http.Get(e.control + "/v1/drops/d1/sign.png?ch=qr")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("sign.png: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	got, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode the QR code: %v", err)
	}
	if got.GetText() != "/watch/cam1?ch=qr" { // the test's API has no link base: a path
		t.Fatalf("QR code reads %q, want /watch/cam1?ch=qr", got.GetText())
	}
	code, s := do(t, "GET", e.control+"/v1/drops/d1/sign?ch=qr", "", nil, "")
	if code != 200 || s["stream"] != "cam1" || s["url"] != "/watch/cam1?ch=qr" || s["product"] != "Tee" || s["channel"] != "qr" {
		t.Fatalf("sign: %d %v", code, s)
	}
	for _, q := range []string{"/v1/drops/d1/sign?ch=Bad%20Label", "/v1/drops/d1/sign.png", "/v1/drops/nope/sign?ch=qr"} {
		if code, _ := do(t, "GET", e.control+q, "", nil, ""); code != 400 && code != 404 {
			t.Errorf("%s: %d, want 400 or 404", q, code)
		}
	}
}
