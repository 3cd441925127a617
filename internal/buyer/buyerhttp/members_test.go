package buyerhttp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livedrop/livedrop/internal/buyer"
)

const controlToken = "members-control-token-0123"

// TestMembersRoutes: the seller flags and unflags emails and imports a
// list behind the control token; bad lines are listed; an oversized list
// is 413 and flags nothing; the sign-in reads the flag.
func TestMembersRoutes(t *testing.T) {
	store := buyer.NewMemStore(nil)
	api, err := NewMembersAPI(buyer.NewMembers(store), controlToken, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	auth := []string{"Authorization", "Bearer " + controlToken}

	if code, _, a := call(t, "PUT", srv.URL+"/v1/members/Ann@Example.com", "", auth...); code != 200 || a["email"] != "ann@example.com" || a["member"] != true {
		t.Fatalf("PUT member: %d %v", code, a)
	}
	if code, _, _ := call(t, "PUT", srv.URL+"/v1/members/ann@example.com", ""); code != 401 {
		t.Fatalf("PUT without the token: %d, want 401", code)
	}
	if code, _, e := call(t, "PUT", srv.URL+"/v1/members/not-an-email", "", auth...); code != 400 || e["code"] != "invalid" {
		t.Fatalf("PUT a bad email: %d %v", code, e)
	}
	isMember := func(email string) bool {
		r, err := store.SignedIn(context.Background(), email, "e-aaaaaaaaaaaaaaaaaaaaaaaaaa", false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return r.Member
	}
	if !isMember("ann@example.com") {
		t.Fatal("PUT did not flag ann")
	}
	if code, _, a := call(t, "DELETE", srv.URL+"/v1/members/ann@example.com", "", auth...); code != 200 || a["member"] != false {
		t.Fatalf("DELETE member: %d %v", code, a)
	}
	if isMember("ann@example.com") {
		t.Fatal("DELETE did not clear ann")
	}

	code, _, imp := call(t, "POST", srv.URL+"/v1/members:import", "name,email\nBob,bob@example.com\nCat,cat@\nDan,dan@example.com\n",
		append(auth, "Content-Type", "text/csv")...)
	bad, _ := imp["bad_lines"].([]any)
	if code != 200 || imp["added"] != 2.0 || imp["invalid"] != 1.0 || len(bad) != 1 || fmt.Sprint(bad[0].(map[string]any)["line"]) != "3" {
		t.Fatalf("import: %d %v", code, imp)
	}
	if !isMember("bob@example.com") || !isMember("dan@example.com") || isMember("cat@example.com") {
		t.Fatal("import flagged the wrong emails")
	}
	big := "eve@example.com\n" + strings.Repeat("x", buyer.MaxImportBytes)
	if code, _, e := call(t, "POST", srv.URL+"/v1/members:import", big, append(auth, "Content-Type", "text/csv")...); code != 413 || e["code"] != "too_large" {
		t.Fatalf("oversized import: %d %v", code, e)
	}
	if isMember("eve@example.com") {
		t.Fatal("an oversized import flagged an email")
	}
}
