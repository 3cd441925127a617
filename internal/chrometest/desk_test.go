package chrometest_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/livedrop/livedrop/checkout"
	"github.com/livedrop/livedrop/checkout/pickup"
	"github.com/livedrop/livedrop/checkout/pickup/pickuphttp"
	"github.com/livedrop/livedrop/internal/chrometest"
	"github.com/livedrop/livedrop/internal/webui"
)

// TestPickupDeskOffline: two pickup desks (two tablets: two origins of the
// page, each on a listener of its own) load the day's list, lose the
// network (cut in DevTools, as its Offline switch does), and hand over
// codes anyway; back online, the origin records desk A's two codes
// collected once each, and desk B's collection of a code A had collected
// comes back flagged as a conflict on B's page, never a second collection.
func TestPickupDeskOffline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	desks, code, mux := pickupOrigin(ctx, t)
	netA, netB := startCutServer(t, mux), startCutServer(t, mux)

	b := chrometest.Start(t)
	openDesk := func(base, name string) *chrometest.Page {
		p, err := b.Open(ctx, base+"/desk?desk="+name)
		if err != nil {
			t.Fatal(err)
		}
		dumpOnFailure(t, p)
		if err := p.Type(ctx, tid("desk-token"), consoleToken); err != nil {
			t.Fatal(err)
		}
		if err := p.Click(ctx, tid("desk-open")); err != nil {
			t.Fatal(err)
		}
		mustWait(ctx, t, p, `window.livedropDesk && window.livedropDesk.listed() === 2 && document.querySelectorAll('[data-testid="desk-item"]').length === 2`, 15*time.Second)
		return p
	}
	deskA, deskB := openDesk(netA.URL(), "desk-a"), openDesk(netB.URL(), "desk-b")
	for _, p := range []*chrometest.Page{deskA, deskB} {
		if err := p.SetOffline(ctx, true); err != nil {
			t.Fatal(err)
		}
		mustWait(ctx, t, p, `document.querySelector('[data-testid="desk-net"]').dataset.state === 'offline'`, 10*time.Second)
		// A refresh now fails and keeps the list it has.
		if err := p.Click(ctx, tid("desk-refresh")); err != nil {
			t.Fatal(err)
		}
		mustWait(ctx, t, p, `document.querySelector('[data-testid="desk-net"]').dataset.state === 'offline' && window.livedropDesk.listed() === 2`, 10*time.Second)
	}
	collect := func(p *chrometest.Page, typed, c string) {
		t.Helper()
		if err := p.Type(ctx, tid("desk-code"), typed+"\r"); err != nil {
			t.Fatal(err)
		}
		mustWait(ctx, t, p, `!document.querySelector('[data-testid="desk-collect"]').hidden`, 10*time.Second)
		if err := p.Click(ctx, tid("desk-collect")); err != nil {
			t.Fatal(err)
		}
		mustWait(ctx, t, p, fmt.Sprintf(`window.livedropDesk.state(%q) === 'local'`, c), 10*time.Second)
	}
	// Desk A hands over both orders offline, one code typed with its dash in
	// lower case; desk B hands over the first one too.
	collect(deskA, strings.ToLower(pickup.Display(code[0])), code[0])
	collect(deskA, code[1], code[1])
	collect(deskB, pickup.Display(code[0]), code[0])
	mustWait(ctx, t, deskA, `window.livedropDesk.unsynced() === 2 && document.querySelector('[data-testid="desk-pending-sync"]').textContent === '2'`, 5*time.Second)
	if n := testutil.ToFloat64(desks.Collected()); n != 0 {
		t.Fatalf("the origin counted %v collections while the desks were offline", n)
	}

	// Desk A comes back: both codes collected, once.
	if err := deskA.SetOffline(ctx, false); err != nil {
		t.Fatal(err)
	}
	mustWait(ctx, t, deskA, fmt.Sprintf(`window.livedropDesk.unsynced() === 0 && window.livedropDesk.state(%q) === 'collected' && window.livedropDesk.state(%q) === 'collected'`,
		code[0], code[1]), 20*time.Second)
	for _, c := range code {
		it, err := desks.Lookup(ctx, c)
		if err != nil || it.Collected == nil || it.Collected.Desk != "desk-a" {
			t.Fatalf("origin's read of %s: %+v %v", c, it, err)
		}
	}
	// Desk B comes back: its collection of code 0 is a conflict, flagged on
	// its page; the origin still has one collection of it, by desk A.
	if err := deskB.SetOffline(ctx, false); err != nil {
		t.Fatal(err)
	}
	sel := fmt.Sprintf(`[data-testid="desk-item"][data-code=%q]`, code[0])
	mustWait(ctx, t, deskB, fmt.Sprintf(`window.livedropDesk.unsynced() === 0 && window.livedropDesk.state(%q) === 'conflict' &&
		document.querySelector(%q).dataset.state === 'conflict' && document.querySelector(%q).textContent.includes('CONFLICT: collected at desk desk-a')`,
		code[0], sel, sel), 20*time.Second)
	it, err := desks.Lookup(ctx, code[0])
	if err != nil || it.Collected == nil || it.Collected.Desk != "desk-a" || len(it.Conflicts) != 1 || it.Conflicts[0].Desk != "desk-b" {
		t.Fatalf("origin's read of %s after the conflict: %+v %v", code[0], it, err)
	}
	if n := testutil.ToFloat64(desks.Collected()); n != 2 {
		t.Fatalf("the origin counted %v collections, want 2", n)
	}
	// The list a desk loads now shows both collected.
	l, err := desks.List(ctx, time.Now().UTC().Truncate(24*time.Hour))
	if err != nil || len(l.Items) != 2 || l.Items[0].Collected == nil || l.Items[1].Collected == nil {
		t.Fatalf("list: %+v %v", l, err)
	}
	mustWait(ctx, t, deskB, `document.querySelector('[data-testid="desk-counts"]').textContent === '2 collected · 0 waiting'`, 10*time.Second)
}

// pickupOrigin is an origin's checkout (embedded store, one edge) with two
// pickup orders of drop d1 and one order shipping, its pickup desks, and a
// mux serving the desk page and the desk API.
func pickupOrigin(ctx context.Context, t *testing.T) (*pickup.Desks, [2]string, *http.ServeMux) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st, err := checkout.OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := checkout.Defaults()
	cfg.SyncInterval = 20 * time.Millisecond
	ctl, err := checkout.NewControl(checkout.ControlParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	edge, err := checkout.NewEdge(checkout.EdgeParams{Logger: log, Registerer: prometheus.NewRegistry(), Config: cfg,
		DataDir: t.TempDir(), EdgeID: "e1", Region: "eu", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = ctl.Run(rctx); done <- struct{}{} }()
	go func() { _ = edge.Run(rctx); done <- struct{}{} }()
	t.Cleanup(func() { rcancel(); <-done; <-done })
	<-edge.Ready()

	codes, err := pickup.NewCodes([]byte("pickup-code-key-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	desks, err := pickup.NewDesks(pickup.Params{Orders: ctl, Codes: codes, Store: pickup.NewMemStore(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	api, err := pickuphttp.NewDeskAPI(desks, consoleToken, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	u, err := webui.New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.RegisterConsole(mux)
	api.Register(mux)

	if _, err := ctl.CreateDrop(ctx, checkout.Drop{ID: "d1", Stream: "demo", SKUs: []checkout.SKU{{SKU: "tee", Name: "Tee",
		PriceCents: 2500, Currency: "EUR", Stock: 10}}}); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Open(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	var code [2]string
	for i := range code {
		o, err := edge.PlaceOrder(ctx, checkout.OrderRequest{Drop: "d1", SKU: "tee", Qty: 1, Buyer: fmt.Sprintf("buyer%d", i),
			IdempotencyKey: fmt.Sprintf("k%d", i), Fulfilment: checkout.FulfilmentPickup})
		if err != nil {
			t.Fatal(err)
		}
		code[i] = codes.Code(o.ID)
	}
	// One order shipping, not for pickup: not on the list.
	if _, err := edge.PlaceOrder(ctx, checkout.OrderRequest{Drop: "d1", SKU: "tee", Qty: 1, Buyer: "buyer9", IdempotencyKey: "k9"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		os, err := ctl.PickupOrders(ctx, time.Now().Add(time.Hour))
		if err == nil && len(os) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store has %d pickup orders (%v), want 2", len(os), err)
		}
		time.Sleep(20 * time.Millisecond) // polling the store for the edge's shipped orders
	}

	return desks, code, mux
}
