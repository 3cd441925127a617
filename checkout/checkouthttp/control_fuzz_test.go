package checkouthttp

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livedrop/livedrop/checkout"
)

// FuzzControlCreateDrop posts fuzzed bodies to POST /v1/drops of a real
// control API (embedded store). Properties: the answer is 201, 400 or 409,
// never a 5xx; a refusal is JSON with a reason; a drop answered 201 is
// then readable with the stock it was created with. Seeds are the README's
// curl body, the demo's sample drop and the existing DecodeDrop seeds.
func FuzzControlCreateDrop(f *testing.F) {
	base := startControl(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		code, res := call(t, http.MethodPost, base+"/v1/drops", string(body))
		switch code {
		case http.StatusCreated:
			var d checkout.Drop
			if err := json.Unmarshal(res, &d); err != nil || d.Validate() != nil {
				t.Fatalf("201 with %q (%v)", res, err)
			}
			code, tot := call(t, http.MethodGet, base+"/v1/drops/"+d.ID, "")
			var tt checkout.Totals
			if code != http.StatusOK || json.Unmarshal(tot, &tt) != nil || len(tt.SKUs) != len(d.SKUs) {
				t.Fatalf("created drop %s reads %d %s", d.ID, code, tot)
			}
			for i, s := range tt.SKUs {
				if s.Stock != d.SKUs[i].Stock || s.Sold != 0 {
					t.Fatalf("created drop %s: SKU %d totals %+v, want stock %d and nothing sold", d.ID, i, s, d.SKUs[i].Stock)
				}
			}
		case http.StatusBadRequest, http.StatusConflict:
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(res, &e); err != nil || strings.TrimSpace(e.Error) == "" {
				t.Fatalf("%d without a JSON reason: %q", code, res)
			}
		default:
			t.Fatalf("POST /v1/drops %q: %d %s", body, code, res)
		}
	})
}

// startControl serves a control API on an embedded store until the test ends.
func startControl(tb testing.TB) string {
	tb.Helper()
	log := slog.New(slog.DiscardHandler)
	st, err := checkout.OpenMemStore(filepath.Join(tb.TempDir(), "store.journal"), nil, log)
	if err != nil {
		tb.Fatal(err)
	}
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: checkout.Defaults(), Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	capi, err := NewControlAPI(ctl, token, log, nil)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	capi.Register(mux)
	hs := httptest.NewServer(mux)
	tb.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
		st.Close()
	})
	return hs.URL
}

func call(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
