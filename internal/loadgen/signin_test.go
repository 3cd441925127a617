package loadgen

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	buyerpkg "github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/buyer/buyerhttp"
)

// TestBuyersSignInAsGuests: without Params.SignIn every buyer signs in as
// a guest at its first edge, each with a session of its own on a device of
// its own; a refusing edge leaves its buyers unsigned and says why.
func TestBuyersSignInAsGuests(t *testing.T) {
	cfg := buyerpkg.Defaults()
	cfg.SessionSecrets = []string{"loadgen-test-secret-0123456789"}
	sess, err := buyerpkg.NewSessions(cfg.SessionSecrets, time.Hour, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	si, err := buyerpkg.NewSignIn(buyerpkg.Params{Config: cfg, Sessions: sess, Store: buyerpkg.NewMemStore(nil), Mailer: buyerpkg.NewLogMailer(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	buyerhttp.New(si, nil).Register(mux)
	edge := httptest.NewServer(mux)
	defer edge.Close()
	refusing := httptest.NewServer(http.NotFoundHandler())
	defer refusing.Close()

	p := Params{Edges: []string{edge.URL, refusing.URL}, Buyers: 40, Cold: true, Timeout: 5 * time.Second}
	tokens, sum := signInAll(context.Background(), p)
	if sum.Method != "guest_http" || sum.Buyers != 40 || sum.Failed != 20 || sum.FirstError == "" {
		t.Fatalf("summary %+v, want 20 of 40 failed at the refusing edge", sum)
	}
	buyers, devices := map[string]bool{}, map[string]bool{}
	for i, tok := range tokens {
		if i%2 == 1 {
			if tok != "" {
				t.Fatalf("buyer %d signed in at a refusing edge", i)
			}
			continue
		}
		s, err := sess.Verify(tok)
		if err != nil || s.Kind != buyerpkg.KindGuest {
			t.Fatalf("buyer %d: session %+v %v", i, s, err)
		}
		buyers[s.Buyer], devices[s.Device] = true, true
	}
	if len(buyers) != 20 || len(devices) != 20 {
		t.Fatalf("%d buyers on %d devices, want 20 distinct each", len(buyers), len(devices))
	}
}
