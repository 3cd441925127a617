package wallethttp

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/wallet"
	"github.com/livedrop/livedrop/internal/buyer/buyertest"
	"github.com/livedrop/livedrop/internal/guard"
)

const controlToken = "control-token-for-wallet-tests-0123456789"

func newServer(t *testing.T, store wallet.Store, decline bool) (*httptest.Server, *buyertest.Buyers) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	buyers := buyertest.New(t, "")
	m, _ := wallet.NewMetrics(nil)
	w := wallet.NewWallets(store, checkout.NewTestProvider(checkout.PaymentConfig{Decline: decline}), m, nil)
	g, err := guard.New(guard.Params{Config: guard.Defaults(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	NewEdgeAPI(w, buyers.Sessions(), time.Second, logger).Register(mux)
	NewControlAPI(store, controlToken, g, time.Second, logger).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, buyers
}

func call(t *testing.T, method, url, auth, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestTopUpStatementAndLiability(t *testing.T) {
	store := wallet.NewMemStore()
	srv, buyers := newServer(t, store, false)
	ann := buyers.EmailBearer("ann")
	cases := []struct {
		name, auth, key, body string
		want                  int
	}{
		{"no session", "", "k1", `{"amount_cents":500,"currency":"EUR"}`, http.StatusUnauthorized},
		{"forged session", "Bearer nope", "k1", `{"amount_cents":500,"currency":"EUR"}`, http.StatusUnauthorized},
		{"no key", ann, "", `{"amount_cents":500,"currency":"EUR"}`, http.StatusBadRequest},
		{"negative", ann, "k1", `{"amount_cents":-500,"currency":"EUR"}`, http.StatusBadRequest},
		{"too much", ann, "k1", `{"amount_cents":100000000,"currency":"EUR"}`, http.StatusBadRequest},
		{"bad currency", ann, "k1", `{"amount_cents":500,"currency":"euro"}`, http.StatusBadRequest},
		{"unknown field", ann, "k1", `{"amount_cents":500,"currency":"EUR","buyer":"bob"}`, http.StatusBadRequest},
		{"ok", ann, "k1", `{"amount_cents":500,"currency":"EUR"}`, http.StatusCreated},
		{"retried", ann, "k1", `{"amount_cents":500,"currency":"EUR"}`, http.StatusCreated},
		{"key reused", ann, "k1", `{"amount_cents":700,"currency":"EUR"}`, http.StatusConflict},
		{"second", ann, "k2", `{"amount_cents":250,"currency":"EUR"}`, http.StatusCreated},
	}
	for _, c := range cases {
		if code, body := call(t, "POST", srv.URL+"/v1/me/wallet/topups", c.auth, c.key, c.body); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	code, body := call(t, "GET", srv.URL+"/v1/me/wallet", ann, "", "")
	var st wallet.Statement
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || st.Balances["EUR"] != 750 || len(st.Entries) != 2 {
		t.Fatalf("statement: %d %s", code, body)
	}
	_, annSess := buyers.Email("ann")
	if st.Buyer != annSess.Buyer || st.Entries[0].AmountCents != 250 || st.Entries[0].Debit != wallet.AccountProvider {
		t.Errorf("statement %+v", st)
	}
	if code, _ := call(t, "GET", srv.URL+"/v1/me/wallet", "", "", ""); code != http.StatusUnauthorized {
		t.Errorf("statement without a session: %d", code)
	}
	if code, _ := call(t, "GET", srv.URL+"/v1/wallet/liability", "Bearer wrong", "", ""); code != http.StatusUnauthorized {
		t.Errorf("liability with a wrong token: %d", code)
	}
	code, body = call(t, "GET", srv.URL+"/v1/wallet/liability", "Bearer "+controlToken, "", "")
	if code != http.StatusOK || !strings.Contains(body, `"EUR":750`) {
		t.Errorf("liability: %d %s", code, body)
	}
}

func TestTopUpDeclinedCreditsNothing(t *testing.T) {
	store := wallet.NewMemStore()
	srv, buyers := newServer(t, store, true)
	if code, body := call(t, "POST", srv.URL+"/v1/me/wallet/topups", buyers.EmailBearer("ann"), "k1", `{"amount_cents":500,"currency":"EUR"}`); code != http.StatusPaymentRequired {
		t.Errorf("declined top-up: %d %s", code, body)
	}
	if led, _ := store.Ledger(t.Context()); len(led) != 0 {
		t.Errorf("a declined top-up wrote %d entries", len(led))
	}
}

// TestGuestsHaveNoWallet: a guest session may neither top up nor read a
// wallet: 403 with the code email_required and words that say to sign in
// with an email; nothing is charged or written.
func TestGuestsHaveNoWallet(t *testing.T) {
	store := wallet.NewMemStore()
	srv, buyers := newServer(t, store, false)
	guest := buyers.Bearer("gus")
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/me/wallet/topups", `{"amount_cents":500,"currency":"EUR"}`},
		{"GET", "/v1/me/wallet", ""},
	} {
		code, body := call(t, c.method, srv.URL+c.path, guest, "k1", c.body)
		var e struct{ Error, Code string }
		if code != http.StatusForbidden || json.Unmarshal([]byte(body), &e) != nil || e.Code != "email_required" ||
			!strings.Contains(e.Error, "sign in with your email") {
			t.Errorf("%s %s as a guest: %d %s, want 403 email_required", c.method, c.path, code, body)
		}
	}
	if led, _ := store.Ledger(t.Context()); len(led) != 0 {
		t.Errorf("a guest's top-up wrote %d entries", len(led))
	}
}
