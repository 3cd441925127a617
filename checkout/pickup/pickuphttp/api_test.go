package pickuphttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/checkout/pickup/pickuphttp"
)

const token = "right-token-0123456789"

type orders map[string]checkout.Order

func (o orders) Order(_ context.Context, id string) (checkout.Order, error) {
	if v, ok := o[id]; ok {
		return v, nil
	}
	return checkout.Order{}, checkout.ErrNotFound
}

// PickupOrdersSince reads them all once (one drop, "d").
func (o orders) PickupOrdersSince(_ context.Context, cursors map[string]int) ([]checkout.Order, map[string]int, error) {
	if cursors["d"] > 0 {
		return nil, cursors, nil
	}
	var out []checkout.Order
	for _, v := range o {
		if v.Fulfilment == checkout.FulfilmentPickup {
			out = append(out, v)
		}
	}
	return out, map[string]int{"d": len(o)}, nil
}

type tokens struct{}

func (tokens) Valid(id, tok string) bool { return tok == "tok-"+id }

func call(t *testing.T, method, url, auth, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestCodeAndDeskRoutes(t *testing.T) {
	now := time.Now().UTC()
	os := orders{
		"d1.aaaaaaaaaaaaaaaaaaaaaaaa": {ID: "d1.aaaaaaaaaaaaaaaaaaaaaaaa", Drop: "d1", SKU: "tee", Qty: 1, Status: checkout.StatusPaid, Fulfilment: checkout.FulfilmentPickup, CreatedAt: now},
		"d1.bbbbbbbbbbbbbbbbbbbbbbbb": {ID: "d1.bbbbbbbbbbbbbbbbbbbbbbbb", Drop: "d1", SKU: "tee", Qty: 1, Status: checkout.StatusPaid, CreatedAt: now},
	}
	codes, _ := pickup.NewCodes([]byte("pickup-code-key-0123456789abcdef"))
	desks, err := pickup.NewDesks(pickup.Params{Orders: os, Codes: codes, Store: pickup.NewMemStore(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	dapi, err := pickuphttp.NewDeskAPI(desks, token, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	capi, err := pickuphttp.NewCodeAPI(os, tokens{}, codes, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	dapi.Register(mux)
	capi.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	id := "d1.aaaaaaaaaaaaaaaaaaaaaaaa"
	code := codes.Code(id)

	t.Run("edge code read", func(t *testing.T) {
		st, b := call(t, "GET", srv.URL+"/v1/orders/"+id+"/pickup?token=tok-"+id, "", "")
		var pc pickuphttp.PickupCode
		if st != 200 || json.Unmarshal(b, &pc) != nil || pc.Code != code || pc.Display != pickup.Display(code) {
			t.Fatalf("%d %s", st, b)
		}
		st, b = call(t, "GET", srv.URL+pc.QR, "", "")
		if _, err := png.Decode(bytes.NewReader(b)); st != 200 || err != nil {
			t.Fatalf("qr: %d %v", st, err)
		}
		for _, u := range []string{
			"/v1/orders/" + id + "/pickup",                                                        // no token
			"/v1/orders/" + id + "/pickup?token=wrong",                                            // wrong token
			"/v1/orders/d1.bbbbbbbbbbbbbbbbbbbbbbbb/pickup?token=tok-d1.bbbbbbbbbbbbbbbbbbbbbbbb", // not for pickup
			"/v1/orders/d1.cccccccccccccccccccccccc/pickup?token=tok-d1.cccccccccccccccccccccccc", // no such order
		} {
			if st, b := call(t, "GET", srv.URL+u, "", ""); st != 404 {
				t.Errorf("%s: %d %s, want 404", u, st, b)
			}
		}
	})
	t.Run("desk routes need the control token", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{{"GET", "/v1/pickups"}, {"POST", "/v1/pickups:sync"}, {"GET", "/v1/pickups/" + code}} {
			if st, _ := call(t, c.method, srv.URL+c.path, "wrong-token-0123456789", `{"collections":[]}`); st != 401 {
				t.Errorf("%s %s with a wrong token: %d", c.method, c.path, st)
			}
		}
	})
	t.Run("list, sync, lookup", func(t *testing.T) {
		st, b := call(t, "GET", srv.URL+"/v1/pickups?day="+now.Format(time.DateOnly), token, "")
		var l pickup.List
		if st != 200 || json.Unmarshal(b, &l) != nil || len(l.Items) != 1 || l.Items[0].Code != code {
			t.Fatalf("list: %d %s", st, b)
		}
		body := `{"collections":[{"code":"` + strings.ToLower(pickup.Display(code)) + `","desk":"a","at":"` + now.Format(time.RFC3339) + `"},` +
			`{"code":"` + code + `","desk":"b","at":"` + now.Format(time.RFC3339) + `"}]}`
		st, b = call(t, "POST", srv.URL+"/v1/pickups:sync", token, body)
		var ans pickuphttp.SyncAnswer
		if st != 200 || json.Unmarshal(b, &ans) != nil || len(ans.Results) != 2 || ans.Results[0].Status != "collected" || ans.Results[1].Status != "conflict" {
			t.Fatalf("sync: %d %s", st, b)
		}
		st, b = call(t, "GET", srv.URL+"/v1/pickups/"+pickup.Display(code), token, "")
		var it pickup.Item
		if st != 200 || json.Unmarshal(b, &it) != nil || it.Collected == nil || it.Collected.Desk != "a" || len(it.Conflicts) != 1 {
			t.Fatalf("lookup: %d %s", st, b)
		}
	})
	t.Run("bad input changes nothing", func(t *testing.T) {
		for _, c := range []struct {
			method, path, body string
			want               int
		}{
			{"GET", "/v1/pickups?day=yesterday", "", 400},
			{"GET", "/v1/pickups/NOTACODE0", "", 400},
			{"GET", "/v1/pickups/ZZZZZZZZ", "", 404},
			{"POST", "/v1/pickups:sync", `{"collections":[]}`, 400},
			{"POST", "/v1/pickups:sync", `{"collections":[{"code":1}]}`, 400},
			{"POST", "/v1/pickups:sync", `{"nope":true}`, 400},
			{"POST", "/v1/pickups:sync", `not json`, 400},
		} {
			if st, b := call(t, c.method, srv.URL+c.path, token, c.body); st != c.want {
				t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, st, b, c.want)
			}
		}
	})
}
