package giveawayhttp_test

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/checkouthttp"
	"github.com/livedrop/livedrop/checkout/giveaway"
	"github.com/livedrop/livedrop/checkout/giveaway/giveawayhttp"
	"github.com/livedrop/livedrop/internal/buyer"
	"github.com/livedrop/livedrop/internal/proof"
	"github.com/livedrop/livedrop/internal/redistest"
)

const token = "right-token-0123456789"

type backend struct {
	store  giveaway.Store
	orders checkout.Store
}

func backends(t *testing.T) map[string]backend {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	log := slog.New(slog.DiscardHandler)
	ms, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return map[string]backend{
		"redis":  {giveaway.NewRedisStore(rdb), checkout.NewRedisStore(rdb, log)},
		"memory": {giveaway.NewMemStore(), ms},
	}
}

// storeOrders reads a buyer's orders straight from the checkout store.
type storeOrders struct{ s checkout.Store }

func (o storeOrders) BuyerOrders(ctx context.Context, buyer string) ([]checkout.Order, error) {
	return o.s.BuyerOrders(ctx, buyer, checkout.MaxBuyerOrders)
}

// viewer is a buyer with a real session and, when watching, a watch proof
// the edge's gate signed for their media session.
type viewer struct {
	id, session, watch string
}

func newViewer(t *testing.T, s *buyer.Sessions, gate *proof.Gate, name, kind, stream string, watching bool) viewer {
	t.Helper()
	id := buyer.NewGuestID()
	if kind == buyer.KindEmail {
		sum := sha256.Sum256([]byte(name))
		id = "e-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
	}
	tok, _, err := s.Mint(id, "device-"+name+"-0123456789", kind)
	if err != nil {
		t.Fatal(err)
	}
	v := viewer{id: id, session: tok}
	if watching {
		now := time.Now()
		_, w, err := gate.IssueWatch(id, "whep-"+name, proof.SessionState{Stream: stream, Connected: true,
			Receiving: now.Add(-time.Minute), LastReport: now}, now)
		if err != nil {
			t.Fatal(err)
		}
		v.watch = w
	}
	return v
}

func call(t *testing.T, method, url, auth, watch, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if watch != "" {
		req.Header.Set(checkouthttp.WatchProofHeader, watch)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
		}
	}
	return res.StatusCode
}

// boughtSomething gives buyer a paid order in the checkout store.
func boughtSomething(t *testing.T, orders checkout.Store, buyerID string) {
	t.Helper()
	ctx := context.Background()
	err := orders.CreateDrop(ctx, checkout.Drop{ID: "tees", Stream: "demo",
		SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee", PriceCents: 1500, Currency: "EUR", Stock: 100}}})
	if err != nil && !strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
	_ = orders.SetState(ctx, "tees", checkout.StateOpen)
	o := checkout.Order{ID: checkout.OrderID("tees", buyerID, "k"), Drop: "tees", SKU: "tee", Qty: 1, Buyer: buyerID, PriceCents: 1500,
		Currency: "EUR", TotalCents: 1500, Status: checkout.StatusPending, Edge: "test", CreatedAt: time.Now().UTC()}
	if res, err := orders.SellDirect(ctx, checkout.ShipItem{Order: o, Hold: time.Hour}); err != nil || res.Outcome != checkout.OutcomeCreated {
		t.Fatalf("order: %+v %v", res, err)
	}
	if _, err := orders.ConfirmPayment(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
}

// TestGiveawayEndToEnd: the seller starts a buyers-only giveaway at the
// origin; at the edge only watching, signed-in buyers with a purchase get
// in, the others are told why; the draw reveals a seed that reproduces the
// winner from the public read, and the winner has a zero-price order.
func TestGiveawayEndToEnd(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := giveaway.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			origin, err := giveaway.New(giveaway.Params{Store: b.store, Orders: b.orders, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			edge, err := giveaway.New(giveaway.Params{Store: b.store, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			sessions, err := buyer.NewSessions([]string{"giveaway-test-session-secret-0123456789"}, time.Hour, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			gate, err := proof.New(proof.Params{Config: proof.Defaults(), NodeSecrets: []string{"giveaway-test-node-secret-0123456789"}})
			if err != nil {
				t.Fatal(err)
			}
			sapi, err := giveawayhttp.NewSellerAPI(origin, token, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			eapi, err := giveawayhttp.NewEntryAPI(giveawayhttp.EntryParams{Giveaways: edge, Sessions: sessions, Watch: gate, Orders: storeOrders{b.orders}})
			if err != nil {
				t.Fatal(err)
			}
			omux, emux := http.NewServeMux(), http.NewServeMux()
			sapi.Register(omux)
			eapi.Register(emux)
			osrv, esrv := httptest.NewServer(omux), httptest.NewServer(emux)
			defer osrv.Close()
			defer esrv.Close()

			body := `{"id":"cap1","stream":"demo","rule":"buyers","prize":{"name":"A signed cap"},"fulfilment":"pickup"}`
			if code := call(t, "POST", osrv.URL+"/v1/giveaways", "wrong-token-0123456789", "", body, nil); code != http.StatusUnauthorized {
				t.Fatalf("start with a wrong token: %d", code)
			}
			var started giveaway.View
			if code := call(t, "POST", osrv.URL+"/v1/giveaways", token, "", body, &started); code != http.StatusCreated ||
				len(started.Commitment) != 64 || started.Seed != "" {
				t.Fatalf("start: %d %+v", code, started)
			}

			var latest giveaway.View
			if code := call(t, "GET", esrv.URL+"/v1/streams/demo/giveaway", "", "", "", &latest); code != http.StatusOK || latest.ID != "cap1" {
				t.Fatalf("the stream's latest giveaway: %d %+v", code, latest)
			}
			if code := call(t, "GET", esrv.URL+"/v1/streams/quiet/giveaway", "", "", "", nil); code != http.StatusNotFound {
				t.Fatalf("a stream without a giveaway: %d", code)
			}
			alice := newViewer(t, sessions, gate, "alice", buyer.KindEmail, "demo", true)
			frank := newViewer(t, sessions, gate, "frank", buyer.KindEmail, "demo", true)
			bob := newViewer(t, sessions, gate, "bob", buyer.KindEmail, "demo", true)     // no purchase
			carol := newViewer(t, sessions, gate, "carol", buyer.KindGuest, "demo", true) // guest
			dave := newViewer(t, sessions, gate, "dave", buyer.KindEmail, "demo", false)  // not watching
			erin := newViewer(t, sessions, gate, "erin", buyer.KindEmail, "other", true)  // watching another stream
			for _, v := range []viewer{alice, frank, carol, dave, erin} {
				boughtSomething(t, b.orders, v.id)
			}
			entries := esrv.URL + "/v1/giveaways/cap1/entries"
			for _, v := range []viewer{alice, frank, alice} {
				var ok giveawayhttp.Entered
				if code := call(t, "POST", entries, v.session, v.watch, "", &ok); code != http.StatusOK || ok.Buyer != v.id ||
					ok.Commitment != started.Commitment {
					t.Fatalf("eligible entry: %d %+v", code, ok)
				}
			}
			for who, c := range map[string]struct {
				v   viewer
				why string
			}{"bob": {bob, "no_purchase"}, "carol": {carol, "not_signed_in"}, "dave": {dave, "not_watching"}, "erin": {erin, "not_watching"}} {
				var refused giveawayhttp.EntryError
				if code := call(t, "POST", entries, c.v.session, c.v.watch, "", &refused); code != http.StatusForbidden ||
					refused.Code != "not_eligible" || refused.Why != c.why || refused.Error == "" {
					t.Errorf("%s: %d %+v, want 403 not_eligible/%s", who, code, refused, c.why)
				}
			}
			// dave borrowing alice's watch proof is still not watching.
			var refused giveawayhttp.EntryError
			if code := call(t, "POST", entries, dave.session, alice.watch, "", &refused); code != http.StatusForbidden || refused.Why != "not_watching" {
				t.Errorf("borrowed watch proof: %d %+v", code, refused)
			}
			if code := call(t, "POST", entries, "", alice.watch, "", &refused); code != http.StatusUnauthorized || refused.Code != "session_required" {
				t.Errorf("no session: %d %+v", code, refused)
			}

			var drawn giveaway.View
			if code := call(t, "POST", osrv.URL+"/v1/giveaways/cap1/draw", token, "", "", &drawn); code != http.StatusOK || drawn.State != "drawn" {
				t.Fatalf("draw: %d %+v", code, drawn)
			}
			if drawn.Winner != alice.id && drawn.Winner != frank.id {
				t.Fatalf("winner %q is not one of the eligible entrants", drawn.Winner)
			}
			if drawn.WinnerMasked == "" || drawn.WinnerMasked == drawn.Winner || drawn.EntrantsDigest != giveaway.EntrantsDigest(drawn.EntrantIDs) {
				t.Fatalf("draw answer %+v", drawn)
			}
			// Anyone: the public read at the edge has all it takes to check.
			var pub giveaway.View
			if code := call(t, "GET", esrv.URL+"/v1/giveaways/cap1", "", "", "", &pub); code != http.StatusOK || pub.Order != "" {
				t.Fatalf("public read: %d %+v", code, pub)
			}
			seed, err := hex.DecodeString(pub.Seed)
			if err != nil || !giveaway.Verify("cap1", started.Commitment, seed, pub.EntrantIDs, pub.Winner) ||
				pub.Winner != drawn.Winner || len(pub.EntrantIDs) != 2 {
				t.Fatalf("the revealed seed does not reproduce the winner: %+v", pub)
			}
			o, err := b.orders.Order(context.Background(), drawn.Order)
			if err != nil || o.Buyer != drawn.Winner || o.TotalCents != 0 || o.Status != checkout.StatusPaid || o.Fulfilment != checkout.FulfilmentPickup {
				t.Fatalf("winner's order: %+v %v", o, err)
			}
			var seller giveaway.View
			if code := call(t, "GET", osrv.URL+"/v1/giveaways/cap1", "", "", "", &seller); code != http.StatusOK || seller.Order != "" || seller.Seed != pub.Seed {
				t.Errorf("public read at the origin: %d %+v", code, seller)
			}
			if code := call(t, "POST", entries, alice.session, alice.watch, "", &refused); code != http.StatusConflict || refused.Code != "giveaway_closed" {
				t.Errorf("entry after the draw: %d %+v", code, refused)
			}
			if code := call(t, "GET", esrv.URL+"/v1/giveaways/nope", "", "", "", &refused); code != http.StatusNotFound {
				t.Errorf("unknown giveaway: %d", code)
			}
		})
	}
}
