package buyerhttp

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyermail"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
)

const secret = "buyerhttp-test-secret-0123456789"

func newAPI(t testing.TB, mailer buyer.Mailer) *API {
	t.Helper()
	return newAPIWith(t, mailer, nil)
}

// newAPIWith is newAPI with mut applied to the sign-in config.
func newAPIWith(t testing.TB, mailer buyer.Mailer, mut func(*buyer.Config)) *API {
	t.Helper()
	cfg := buyer.Defaults()
	cfg.SessionSecrets = []string{secret}
	if mut != nil {
		mut(&cfg)
	}
	sess, err := buyer.NewSessions(cfg.SessionSecrets, cfg.SessionTTL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mailer == nil {
		mailer = buyer.NewLogMailer(slog.New(slog.DiscardHandler))
	}
	s, err := buyer.NewSignIn(buyer.Params{Config: cfg, Sessions: sess, Store: buyer.NewMemStore(nil), Mailer: mailer})
	if err != nil {
		t.Fatal(err)
	}
	return New(s, nil)
}

func serve(t *testing.T, api *API) string {
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func post(t *testing.T, url, body string, hdr ...string) (int, http.Header, map[string]any) {
	t.Helper()
	return call(t, "POST", url, body, hdr...)
}

func get(t *testing.T, url string, hdr ...string) (int, http.Header, map[string]any) {
	t.Helper()
	return call(t, "GET", url, "", hdr...)
}

func call(t *testing.T, method, url, body string, hdr ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: non-JSON answer %q", url, data)
	}
	return resp.StatusCode, resp.Header, m
}

func TestSignInRoutes(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	mc := buyermail.Defaults()
	mc.Addr, mc.TLS = mail.Addr(), buyermail.None
	mailer, err := buyermail.New(mc, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, newAPI(t, mailer))
	const dev = "d-0123456789abcdef"

	code, _, g := post(t, base+"/v1/signin/guest", `{"device":"`+dev+`"}`)
	if code != 200 || g["kind"] != "guest" || g["device"] != dev || len(fmt.Sprint(g["session"])) < 100 {
		t.Fatalf("guest: %d %v", code, g)
	}
	if code, _, me := get(t, base+"/v1/me", "Authorization", "Bearer "+g["session"].(string)); code != 200 || me["buyer"] != g["buyer"] {
		t.Fatalf("me: %d %v", code, me)
	}
	if code, h, me := get(t, base+"/v1/me"); code != 401 || me["code"] != "session_required" || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("me without a session: %d %v", code, me)
	}

	if code, _, a := post(t, base+"/v1/signin/code", `{"email":"Ann@Example.com"}`); code != 202 || a["sent"] != true || a["expires_in_s"] != 600.0 {
		t.Fatalf("send code: %d %v", code, a)
	}
	sent, err := mail.Code("ann@example.com", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	bad := fmt.Sprintf("%06d", (atoi(sent)+1)%1000000)
	for i := 4; i >= 1; i-- {
		code, _, e := post(t, base+"/v1/signin/email", `{"email":"ann@example.com","code":"`+bad+`","device":"`+dev+`"}`)
		if code != 401 || e["code"] != "wrong_code" || e["attempts_left"] != float64(i) {
			t.Fatalf("wrong code: %d %v, want 401 with %d tries left", code, e, i)
		}
	}
	code, h, e := post(t, base+"/v1/signin/email", `{"email":"ann@example.com","code":"`+bad+`","device":"`+dev+`"}`)
	if code != 429 || e["code"] != "locked" || h.Get("Retry-After") != "900" || e["retry_after_ms"] != 900000.0 {
		t.Fatalf("fifth wrong code: %d %v Retry-After %q", code, e, h.Get("Retry-After"))
	}
	if code, _, e := post(t, base+"/v1/signin/email", `{"email":"ann@example.com","code":"`+sent+`","device":"`+dev+`"}`); code != 429 {
		t.Fatalf("right code while locked: %d %v", code, e)
	}

	post(t, base+"/v1/signin/code", `{"email":"bob@example.com"}`)
	sent, err = mail.Code("bob@example.com", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	code, _, s := post(t, base+"/v1/signin/email", `{"email":"bob@example.com","code":"`+sent+`","device":"`+dev+`","marketing":true}`)
	if code != 200 || s["kind"] != "email" || !strings.HasPrefix(fmt.Sprint(s["buyer"]), "e-") {
		t.Fatalf("email sign-in: %d %v", code, s)
	}
	if code, _, e := post(t, base+"/v1/signin/email", `{"email":"bob@example.com","code":"`+sent+`","device":"`+dev+`"}`); code != 401 || e["code"] != "no_code" {
		t.Fatalf("code reused: %d %v", code, e)
	}
}

func atoi(s string) int { n := 0; fmt.Sscan(s, &n); return n }

func TestBadSignInBodies(t *testing.T) {
	base := serve(t, newAPI(t, nil))
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/signin/guest", ``, "empty body"},
		{"/v1/signin/guest", `{"device":"x"}`, "device"},
		{"/v1/signin/guest", `{"device":"d-0123456789","buyer":"alice"}`, "unknown field"},
		{"/v1/signin/code", `{"email":"no"}`, "not an email"},
		{"/v1/signin/code", `{"email":["a@b.c"]}`, "malformed JSON"},
		{"/v1/signin/email", `{"email":"a@b.co","code":"12345","device":"d-0123456789"}`, "6 digits"},
		{"/v1/signin/email", `{"email":"a@b.co","code":"123456","device":"d 0123456789"}`, "device"},
		{"/v1/signin/email", `{"email":"a@b.co","code":"123456","device":"d-0123456789"}{}`, "after the object"},
	} {
		code, _, e := post(t, base+tc.path, tc.body)
		if code != 400 || e["code"] != "invalid" || !strings.Contains(fmt.Sprint(e["error"]), tc.want) {
			t.Errorf("%s %s: %d %v, want 400 mentioning %q", tc.path, tc.body, code, e, tc.want)
		}
	}
	code, _, e := post(t, base+"/v1/signin/code", `{"email":"`+strings.Repeat("a", MaxBodyBytes)+`@b.co"}`)
	if code != 413 || e["code"] != "too_large" {
		t.Fatalf("oversized: %d %v", code, e)
	}
}

// TestOnSessionIsToldOfEverySession: a guest sign-in and a kept session
// shown on GET /v1/me reach the hook with the buyer and the client's
// address (the edge prepares purchase limits there); a refused session
// does not.
func TestOnSessionIsToldOfEverySession(t *testing.T) {
	api := newAPI(t, nil)
	var seen []string
	api.OnSession(func(s buyer.Session, ip string) { seen = append(seen, s.Buyer+"@"+ip) })
	url := serve(t, api)
	code, _, body := post(t, url+"/v1/signin/guest", `{"device":"d-onsession-device-01"}`)
	if code != 200 {
		t.Fatalf("guest sign-in: %d %v", code, body)
	}
	me := fmt.Sprint(body["buyer"])
	if code, _, _ := get(t, url+"/v1/me", "Authorization", "Bearer "+fmt.Sprint(body["session"])); code != 200 {
		t.Fatalf("GET /v1/me: %d", code)
	}
	if code, _, _ := get(t, url+"/v1/me", "Authorization", "Bearer not-a-session"); code != 401 {
		t.Fatalf("GET /v1/me with a forged session: %d", code)
	}
	want := me + "@127.0.0.1"
	if len(seen) != 2 || seen[0] != want || seen[1] != want {
		t.Fatalf("the hook saw %q, want %q twice", seen, want)
	}
}

// TestGuestSignInsPerAddressOverHTTP: fresh connections from one address
// get guests_per_ip guest sessions at once; the next is 429 rate_limited
// with Retry-After, and every answer before it was a session.
func TestGuestSignInsPerAddressOverHTTP(t *testing.T) {
	base := serve(t, newAPIWith(t, nil, func(c *buyer.Config) { c.GuestsPerIP, c.GuestRefill = 50, 0.01 }))
	var wg sync.WaitGroup
	var ok, other atomic.Int32
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DisableKeepAlives: true} // a fresh connection per buyer
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Post(base+"/v1/signin/guest", "application/json",
				strings.NewReader(fmt.Sprintf(`{"device":"d-guest-device-%04d"}`, i)))
			if err != nil {
				other.Add(1)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ok.Add(1)
			} else {
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 50 || other.Load() != 0 {
		t.Fatalf("burst of 50 guests from one address: %d sessions, %d other answers; want 50 sessions", ok.Load(), other.Load())
	}
	code, h, e := post(t, base+"/v1/signin/guest", `{"device":"d-guest-device-over"}`)
	if code != 429 || e["code"] != "rate_limited" || atoi(h.Get("Retry-After")) < 1 ||
		!strings.Contains(fmt.Sprint(e["error"]), "too many guest sign-ins from this address") {
		t.Fatalf("51st guest: %d %v Retry-After %q; want 429 rate_limited with Retry-After", code, e, h.Get("Retry-After"))
	}
}
