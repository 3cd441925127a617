package e2e

import (
	"bytes"
	"image"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDemoDropCatalogue: on the demo (embedded store), a drop made through
// the control API with a price for the edge's region and a photo uploaded
// at the origin is listed, its photo is served by the edge as well, and
// the edge sells at its region's price.
func TestDemoDropCatalogue(t *testing.T) {
	addrs, _ := startDemo(t, map[string]string{"LIVEDROP_EDGE_REGION": "us"})
	origin, edge := "http://"+addrs.OriginHTTP, "http://"+addrs.EdgeHTTP
	call(t, "POST", origin+"/v1/drops", demoToken, `{"id":"cat1","stream":"demo","skus":[{"sku":"tee","name":"Tee","price_cents":2500,"currency":"EUR","stock":3,
		"prices":{"us":{"currency":"USD","cents":2900}}}]}`, http.StatusCreated)
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", origin+"/v1/drops/cat1/photo", bytes.NewReader(img.Bytes()))
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Authorization", "Bearer "+demoToken)
	do(t, req, http.StatusCreated)
	for _, base := range []string{origin, edge} {
		resp, err := http.Get(base + "/v1/drops/cat1/photo")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, img.Bytes()) || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("photo at %s: %d %v", base, resp.StatusCode, resp.Header)
		}
	}
	lreq, _ := http.NewRequest("GET", origin+"/v1/drops", nil)
	lreq.Header.Set("Authorization", "Bearer "+demoToken)
	if list := do(t, lreq, http.StatusOK); !strings.Contains(list, `"id":"cat1"`) {
		t.Fatalf("list: %s", list)
	}
	call(t, "POST", origin+"/v1/drops/cat1/open", demoToken, "", http.StatusOK)
	waitReady(t, edge)
	o := callKey(t, edge+"/v1/drops/cat1/orders", "k1", `{"sku":"tee","qty":1}`, http.StatusCreated, "viewer1")
	if !strings.Contains(o, `"price_cents":2900`) || !strings.Contains(o, `"currency":"USD"`) {
		t.Fatalf("order at the us edge: %s", o)
	}
}
