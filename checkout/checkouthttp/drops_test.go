package checkouthttp

import (
	"net/http"
	"strings"
	"testing"
)

// TestDropCatalogueHTTP: list, edit before opening, 409 after, duplicate,
// and bad bodies answered with the field they got wrong.
func TestDropCatalogueHTTP(t *testing.T) {
	env := start(t, nil)
	c := env.control
	if code, _ := do(t, "POST", c+"/v1/drops", token, nil, dropJSON); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	code, body := do(t, "GET", c+"/v1/drops", token, nil, "")
	drops, _ := body["drops"].([]any)
	if code != http.StatusOK || len(drops) != 1 || drops[0].(map[string]any)["state"] != "created" {
		t.Fatalf("list: %d %v", code, body)
	}
	if code, _ := do(t, "GET", c+"/v1/drops", "", nil, ""); code != http.StatusUnauthorized {
		t.Fatalf("list without token: %d", code)
	}
	edited := strings.Replace(dropJSON, `"price_cents":2500`, `"price_cents":3100`, 1)
	code, body = do(t, "PUT", c+"/v1/drops/d1", token, nil, edited)
	if code != http.StatusOK || body["skus"].([]any)[0].(map[string]any)["price_cents"] != 3100.0 {
		t.Fatalf("edit: %d %v", code, body)
	}
	for _, tc := range []struct{ url, body, want string }{
		{"/v1/drops/d2", edited, "not the drop of the path"},
		{"/v1/drops/d1", strings.Replace(edited, `"stock":5`, `"stock":-1`, 1), "skus[0].stock"},
		{"/v1/drops/d1", `{"id":"d1","stream":"cam1","skus":[],"bogus":1}`, "bogus"},
	} {
		code, body := do(t, "PUT", c+tc.url, token, nil, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(body["error"].(string), tc.want) {
			t.Errorf("PUT %s: %d %v, want 400 naming %q", tc.url, code, body, tc.want)
		}
	}
	if code, _ := do(t, "POST", c+"/v1/drops/d1/open", token, nil, ""); code != http.StatusOK {
		t.Fatalf("open: %d", code)
	}
	code, body = do(t, "PUT", c+"/v1/drops/d1", token, nil, dropJSON)
	if code != http.StatusConflict || !strings.Contains(body["error"].(string), "can no longer be edited") {
		t.Fatalf("edit after opening: %d %v", code, body)
	}
	code, body = do(t, "POST", c+"/v1/drops/d1/duplicate", token, nil, `{"id":"d1-again","opens_at":"2030-01-02T15:04:05Z"}`)
	if code != http.StatusCreated || body["id"] != "d1-again" || body["state"] != "created" || body["opens_at"] != "2030-01-02T15:04:05Z" {
		t.Fatalf("duplicate: %d %v", code, body)
	}
	if code, body := do(t, "POST", c+"/v1/drops/d1/duplicate", token, nil, `{"id":"bad id"}`); code != http.StatusBadRequest || !strings.Contains(body["error"].(string), "id must be") {
		t.Fatalf("duplicate with a bad id: %d %v", code, body)
	}
	if code, _ := do(t, "POST", c+"/v1/drops/nope/duplicate", token, nil, `{"id":"x"}`); code != http.StatusNotFound {
		t.Fatalf("duplicate of a missing drop: %d", code)
	}
	code, body = do(t, "GET", c+"/v1/drops", token, nil, "")
	if drops, _ := body["drops"].([]any); code != http.StatusOK || len(drops) != 2 || drops[0].(map[string]any)["id"] != "d1-again" {
		t.Fatalf("list after duplicate (scheduled first): %d %v", code, body)
	}
}

// TestRegionalPriceHTTP: the test edge is of region eu; a SKU with an eu
// price sells at it, and the order answered says so.
func TestRegionalPriceHTTP(t *testing.T) {
	env := start(t, nil)
	drop := strings.Replace(dropJSON, `"max_per_buyer":2`, `"max_per_buyer":2,"prices":{"eu":{"currency":"EUR","cents":2200},"us":{"currency":"USD","cents":2900}}`, 1)
	if code, body := do(t, "POST", env.control+"/v1/drops", token, nil, drop); code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, body)
	}
	bad := strings.Replace(drop, `"cents":2900`, `"cents":-1`, 1)
	if code, body := do(t, "PUT", env.control+"/v1/drops/d1", token, nil, bad); code != http.StatusBadRequest || !strings.Contains(body["error"].(string), "skus[0].prices.us.cents") {
		t.Fatalf("bad regional price: %d %v", code, body)
	}
	if code, _ := do(t, "POST", env.control+"/v1/drops/d1/open", token, nil, ""); code != http.StatusOK {
		t.Fatalf("open: %d", code)
	}
	code, o := do(t, "POST", env.edge+"/v1/drops/d1/orders", env.buyers.Token("a"), map[string]string{"Idempotency-Key": "k1"}, `{"sku":"tee","qty":2}`)
	if code != http.StatusCreated || o["price_cents"] != 2200.0 || o["currency"] != "EUR" || o["total_cents"] != 4400.0 || o["region"] != "eu" {
		t.Fatalf("order at the eu edge: %d %v", code, o)
	}
}
