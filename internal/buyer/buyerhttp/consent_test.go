package buyerhttp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer/buyermail"
	"github.com/livedrop/livedrop/internal/buyer/smtptest"
)

// TestWithdrawConsentRoute: DELETE /v1/me/consent turns an email buyer's
// marketing consent off (twice is the same answer); a guest gets 409
// with words; no session is 401.
func TestWithdrawConsentRoute(t *testing.T) {
	mail := smtptest.Start(t, smtptest.Options{})
	mc := buyermail.Defaults()
	mc.Addr, mc.TLS = mail.Addr(), buyermail.None
	mailer, err := buyermail.New(mc, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, newAPI(t, mailer))
	const dev = "d-0123456789abcdef"
	post(t, base+"/v1/signin/code", `{"email":"cat@example.com"}`)
	sent, err := mail.Code("cat@example.com", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	code, _, s := post(t, base+"/v1/signin/email", `{"email":"cat@example.com","code":"`+sent+`","device":"`+dev+`","marketing":true}`)
	if code != 200 {
		t.Fatalf("sign-in: %d %v", code, s)
	}
	auth := "Bearer " + fmt.Sprint(s["session"])
	for i := range 2 {
		code, _, a := call(t, "DELETE", base+"/v1/me/consent", "", "Authorization", auth)
		if code != 200 || a["marketing"] != false || a["buyer"] != s["buyer"] || a["marketing_withdrawn_at"] == nil {
			t.Fatalf("withdraw #%d: %d %v", i+1, code, a)
		}
	}
	_, _, g := post(t, base+"/v1/signin/guest", `{"device":"`+dev+`"}`)
	code, _, e := call(t, "DELETE", base+"/v1/me/consent", "", "Authorization", "Bearer "+fmt.Sprint(g["session"]))
	if code != 409 || e["code"] != "email_session_required" || !strings.Contains(fmt.Sprint(e["error"]), "guest") {
		t.Fatalf("guest: %d %v, want 409 email_session_required", code, e)
	}
	if code, _, e := call(t, "DELETE", base+"/v1/me/consent", ""); code != 401 || e["code"] != "session_required" {
		t.Fatalf("no session: %d %v, want 401", code, e)
	}
}
