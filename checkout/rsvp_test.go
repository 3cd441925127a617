package checkout

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var testRSVPKey = []byte("rsvp-test-key-0123456789")

// rsvpCase is a store with the clock its deadlines run on, and a way to
// make that clock pass a deadline: the embedded store runs on a fake clock
// moved by hand; Redis keeps its own time, so its case waits for it.
type rsvpCase struct {
	name  string
	store Store
	now   func() time.Time
	pass  func(t *testing.T, deadline time.Time)
}

func rsvpCases(t *testing.T) []rsvpCase {
	t.Helper()
	clk := &fakeClock{t: time.Now().Add(24 * time.Hour).Truncate(time.Second)}
	ms, err := OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), clk.now, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	return []rsvpCase{
		{name: "embedded", store: ms, now: clk.now, pass: func(t *testing.T, dl time.Time) { clk.add(dl.Sub(clk.now()) + time.Second) }},
		{name: "redis", store: stores(t)["redis"], now: time.Now, pass: func(t *testing.T, dl time.Time) {
			eventually(t, 10*time.Second, "the deadline to pass", func() bool { return time.Now().After(dl.Add(100 * time.Millisecond)) })
		}},
	}
}

func rsvpKeys(t testing.TB, now func() time.Time, keys ...[]byte) *RSVPKeys {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{testRSVPKey}
	}
	k, err := NewRSVPKeys(now, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rsvpHarness is a control side and edges that take RSVP tokens, on one
// store and one clock.
func rsvpHarness(t *testing.T, s Store, now func() time.Time) *harness {
	t.Helper()
	ctl, err := NewControl(ControlParams{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Config: testConfig(), Store: s,
		RSVP: rsvpKeys(t, now), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctl.Run)
	return &harness{store: s, ctl: ctl}
}

func rsvpEdge(t *testing.T, h *harness, id string, now func() time.Time) *Edge {
	t.Helper()
	e, err := NewEdge(EdgeParams{Logger: testLogger(t).With("edge", id), Registerer: prometheus.NewRegistry(), Config: testConfig(),
		DataDir: t.TempDir(), EdgeID: id, Store: h.store, RSVP: rsvpKeys(t, now)})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e.Run)
	<-e.Ready()
	return e
}

func buyRSVP(e *Edge, drop, buyer, key, tok string) (Order, error) {
	return e.PlaceOrder(context.Background(), OrderRequest{Drop: drop, SKU: "tee", Qty: 1, Buyer: buyer, IdempotencyKey: key, RSVP: tok})
}

// The seller reserves 3 of 10 units: buyers without a token get the open 7
// and then "sold out"; a token buys its unit; at the deadline the 2 not
// redeemed go back to the open stock, the totals and the edge's stock
// counter rise, an expired token is refused and the 2 units sell to anyone.
func TestRSVPReservedUntilDeadlineThenReturned(t *testing.T) {
	for _, c := range rsvpCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			h := rsvpHarness(t, c.store, c.now)
			h.open(t, testDrop("rv", 10, 0))
			e := rsvpEdge(t, h, "e1", c.now)
			levels := make(chan int, 1000)
			defer e.OnStock(func(l StockLevel) {
				if l.Drop == "rv" {
					select {
					case levels <- l.Left:
					default:
					}
				}
			})()

			if _, err := h.ctl.IssueRSVPs(ctx, "rv", "tee", 11, c.now().Add(time.Hour)); !errors.Is(err, ErrNotEnoughFree) {
				t.Fatalf("reserving 11 of 10: %v, want ErrNotEnoughFree", err)
			}
			deadline := c.now().Add(3 * time.Second)
			b, err := h.ctl.IssueRSVPs(ctx, "rv", "tee", 3, deadline)
			if err != nil || len(b.Tokens) != 3 || b.Stream != "cam1" {
				t.Fatalf("issue: %+v %v", b, err)
			}
			if tt := mustTotals(t, c.store, "rv"); tt.Free != 7 || tt.Reserved != 3 {
				t.Fatalf("totals after reserving: %+v, want free 7, reserved 3", tt)
			}
			eventually(t, 5*time.Second, "the edge to show 7 left", func() bool { return e.StockLeft("rv")["tee"] == 7 })

			for i := range 7 {
				if _, err := buyUntilAnswered(e, "rv", fmt.Sprintf("open%d", i), 1); err != nil {
					t.Fatalf("open buyer %d: %v", i, err)
				}
			}
			if _, err := buyUntilAnswered(e, "rv", "latecomer", 1); !errors.Is(err, ErrSoldOut) {
				t.Fatalf("a buyer without a token after the open units: %v, want sold out (the reserved units are not theirs)", err)
			}
			o, err := buyRSVP(e, "rv", "guest1", "k-guest1", b.Tokens[0].Token)
			if err != nil || o.RSVP != b.Tokens[0].ID || o.Status != StatusPending {
				t.Fatalf("redeem: %+v %v", o, err)
			}
			if tt := settled(t, c.store, "rv", 8); tt.Reserved != 2 || tt.Free != 0 {
				t.Fatalf("totals after redeeming one: %+v, want reserved 2, free 0", tt)
			}
			eventually(t, 5*time.Second, "the edge to show 0 left", func() bool { return e.StockLeft("rv")["tee"] == 0 })
			for len(levels) > 0 {
				<-levels // the count going down
			}

			c.pass(t, deadline)
			eventually(t, 10*time.Second, "the reaper to return 2 units", func() bool {
				tt := mustTotals(t, c.store, "rv")
				return tt.Free == 2 && tt.Reserved == 0
			})
			// The store has them back a moment before the reaper counts them.
			eventually(t, 5*time.Second, "the returned units counted", func() bool {
				return testutil.ToFloat64(h.ctl.rsvp.returned) >= 2
			})
			if got := testutil.ToFloat64(h.ctl.rsvp.returned); got != 2 {
				t.Fatalf("returned units metric %v, want 2", got)
			}
			if got := testutil.ToFloat64(e.rsvp.redeemed); got != 1 {
				t.Fatalf("redeemed metric %v, want 1", got)
			}
			// The cards rise: the edge pushes the new count to its subscribers.
			timeout := time.After(10 * time.Second)
			for up := false; !up; {
				select {
				case l := <-levels:
					up = l == 2
				case <-timeout:
					t.Fatalf("no stock update to 2 left; StockLeft=%v", e.StockLeft("rv"))
				}
			}
			if _, err := buyRSVP(e, "rv", "guest2", "k-guest2", b.Tokens[1].Token); !errors.Is(err, ErrRSVPExpired) {
				t.Fatalf("a token after its deadline: %v, want expired", err)
			}
			// A retry of the order the token bought still gets it.
			if again, err := buyRSVP(e, "rv", "guest1", "k-guest1", b.Tokens[0].Token); err != nil || again.ID != o.ID {
				t.Fatalf("retry after the deadline: %+v %v, want order %s", again, err, o.ID)
			}
			for _, who := range []string{"late1", "late2"} {
				if _, err := buyUntilAnswered(e, "rv", who, 1); err != nil {
					t.Fatalf("%s buys a returned unit: %v (totals %+v, edge %v)", who, err, mustTotals(t, c.store, "rv"), e.StockLeft("rv"))
				}
			}
			if tt := settled(t, c.store, "rv", 10); tt.Reserved != 0 || tt.Free != 0 {
				t.Fatalf("final totals %+v", tt)
			}
		})
	}
}

// A token buys once, whichever edge it is shown to: a second use by anyone
// on any edge is refused, the same buyer retrying the same key gets the
// same order, and of a crowd racing one token over two edges one wins.
func TestRSVPSingleUseOnEveryEdge(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := rsvpHarness(t, s, time.Now)
			h.open(t, testDrop("once", 10, 0))
			e1, e2 := rsvpEdge(t, h, "e1", time.Now), rsvpEdge(t, h, "e2", time.Now)
			b, err := h.ctl.IssueRSVPs(ctx, "once", "tee", 2, time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			tok := b.Tokens[0].Token
			o, err := buyRSVP(e1, "once", "ann", "k1", tok)
			if err != nil {
				t.Fatalf("first use: %v", err)
			}
			for _, tc := range []struct {
				e          *Edge
				buyer, key string
			}{{e2, "bob", "k1"}, {e1, "bob", "k2"}, {e2, "ann", "k2"}} {
				if _, err := buyRSVP(tc.e, "once", tc.buyer, tc.key, tok); !errors.Is(err, ErrRSVPUsed) {
					t.Fatalf("second use by %s on %s: %v, want ErrRSVPUsed", tc.buyer, tc.e.ID(), err)
				}
			}
			if again, err := buyRSVP(e2, "once", "ann", "k1", tok); err != nil || again.ID != o.ID || again.Edge != "e1" {
				t.Fatalf("retry on the other edge: %+v %v, want order %s", again, err, o.ID)
			}

			var wg sync.WaitGroup
			var mu sync.Mutex
			won, used := 0, 0
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e := []*Edge{e1, e2}[i%2]
					_, err := buyRSVP(e, "once", fmt.Sprintf("racer%d", i), "race", b.Tokens[1].Token)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						won++
					case errors.Is(err, ErrRSVPUsed):
						used++
					default:
						t.Errorf("racer %d: %v", i, err)
					}
				}()
			}
			wg.Wait()
			if won != 1 || used != 19 {
				t.Fatalf("racing one token: %d won, %d refused as used; want 1 and 19", won, used)
			}
			tt := mustTotals(t, s, "once")
			if tt.Sold != 2 || tt.Reserved != 0 || tt.Orders != 2 {
				t.Fatalf("totals %+v, want 2 sold from the reservation", tt)
			}
			if tt.Free+tt.HeldAtEdges+tt.Sold+tt.Reserved != tt.Stock {
				t.Fatalf("books do not balance: %+v", tt)
			}
		})
	}
}

// Forged, tampered, foreign, malformed and expired tokens are refused with
// a reason, and change nothing; a token needs qty 1; an edge without RSVP
// keys refuses tokens; per-buyer limits still apply to a token's holder.
func TestRSVPBadTokensRefused(t *testing.T) {
	for _, c := range rsvpCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			h := rsvpHarness(t, c.store, c.now)
			d := testDrop("bad", 10, 1)
			d.SKUs = append(d.SKUs, SKU{SKU: "cap", Name: "Cap", PriceCents: 900, Currency: "EUR", Stock: 5})
			h.open(t, d)
			e := rsvpEdge(t, h, "e1", c.now)
			b, err := h.ctl.IssueRSVPs(ctx, "bad", "tee", 3, c.now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			good := b.Tokens[0].Token
			r, err := rsvpKeys(t, c.now).Parse(good)
			if err != nil {
				t.Fatal(err)
			}
			other := rsvpKeys(t, c.now, []byte("another-key-0123456789"))
			past := r
			past.Deadline = c.now().Add(-time.Minute)
			capTok := r
			capTok.SKU = "cap"
			tampered := strings.Replace(good, "."+strings.Split(good, ".")[4]+".", ".99.", 1)
			flipped := good[:len(good)-1] + "A"
			if strings.HasSuffix(good, "A") {
				flipped = good[:len(good)-1] + "B"
			}
			for _, tc := range []struct {
				name, tok string
				want      error
			}{
				{"signed by another key", other.Sign(r), ErrRSVPInvalid},
				{"seq changed", tampered, ErrRSVPInvalid},
				{"mac changed", flipped, ErrRSVPInvalid},
				{"garbage", "not-a-token", ErrRSVPInvalid},
				{"for another sku", rsvpKeys(t, c.now).Sign(capTok), ErrRSVPInvalid},
				{"expired", rsvpKeys(t, c.now).Sign(past), ErrRSVPExpired},
			} {
				if _, err := buyRSVP(e, "bad", "eve", "k-"+strings.ReplaceAll(tc.name, " ", "-"), tc.tok); !errors.Is(err, tc.want) {
					t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
				}
			}
			if _, err := e.PlaceOrder(ctx, OrderRequest{Drop: "bad", SKU: "tee", Qty: 2, Buyer: "eve", IdempotencyKey: "two", RSVP: good}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("qty 2 with a token: %v, want invalid", err)
			}
			if tt := mustTotals(t, c.store, "bad"); tt.Reserved != 3 || tt.Sold != 0 || tt.Free != 7 {
				t.Fatalf("refused tokens changed the totals: %+v", tt)
			}
			plain := h.edge(t, "plain", testConfig(), nil)
			if _, err := buyRSVP(plain, "bad", "eve", "k-plain", good); !errors.Is(err, ErrRSVPInvalid) {
				t.Fatalf("an edge without RSVP keys: %v, want refused", err)
			}
			// Limits hold: max 1 per buyer, and eve bought one already.
			if _, err := buyUntilAnswered(e, "bad", "eve", 1); err != nil {
				t.Fatal(err)
			}
			if _, err := buyRSVP(e, "bad", "eve", "k-limit", good); ClassOf(err) != ClassLimit {
				t.Fatalf("a token over the per-buyer limit: %v, want the limit", err)
			}
			if o, err := buyRSVP(e, "bad", "joe", "k-joe", good); err != nil || o.RSVP != b.Tokens[0].ID {
				t.Fatalf("the token refused over a limit still works for another buyer: %+v %v", o, err)
			}
		})
	}
}

// Tokens verify under any listed key, so keys rotate: new first, old
// second, until the old tokens' deadlines pass.
func TestRSVPKeysRotate(t *testing.T) {
	oldKey, newKey := []byte("old-rsvp-key-0123456789"), []byte("new-rsvp-key-0123456789")
	r := RSVP{Drop: "d", SKU: "tee", Batch: "rb1", Seq: 4, Deadline: time.Now().Add(time.Hour)}
	tok := rsvpKeys(t, nil, oldKey).Sign(r)
	got, err := rsvpKeys(t, nil, newKey, oldKey).Verify(tok, "d", "tee")
	if err != nil || got.ID() != "rb1-4" || !got.Deadline.Equal(r.Deadline.Truncate(time.Second)) {
		t.Fatalf("old token under rotated keys: %+v %v", got, err)
	}
	if _, err := rsvpKeys(t, nil, newKey).Verify(tok, "d", "tee"); !errors.Is(err, ErrRSVPInvalid) {
		t.Fatalf("old token once its key is dropped: %v, want invalid", err)
	}
	if _, err := NewRSVPKeys(nil, []byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}

// The embedded store journals reservations, sales and returns: a reopened
// store has the same reserved units and still knows a used token.
func TestRSVPEmbeddedStoreReplays(t *testing.T) {
	clk := &fakeClock{t: time.Unix(2_000_000_000, 0)}
	path := filepath.Join(t.TempDir(), "store.journal")
	ms, err := OpenMemStore(path, clk.now, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ms.CreateDrop(ctx, testDrop("j", 10, 0)); err != nil {
		t.Fatal(err)
	}
	if err := ms.SetState(ctx, "j", StateOpen); err != nil {
		t.Fatal(err)
	}
	dl := clk.now().Add(time.Minute)
	for _, b := range []string{"b1", "b2"} {
		if err := ms.Reserve(ctx, ReserveOp{Drop: "j", SKU: "tee", Batch: b, Units: 3, Deadline: dl.Add(time.Duration(len(b)) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ms.Reserve(ctx, ReserveOp{Drop: "j", SKU: "tee", Batch: "b1", Units: 1, Deadline: dl}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a batch id again: %v, want conflict", err)
	}
	r := RSVP{Drop: "j", SKU: "tee", Batch: "b1", Seq: 1, Deadline: dl}
	o := Order{ID: OrderID("j", "ann", "k"), Drop: "j", SKU: "tee", Qty: 1, Buyer: "ann", PriceCents: 2500, Currency: "EUR", TotalCents: 2500,
		Status: StatusPending, Edge: "e1"}
	if res, err := ms.SellRSVP(ctx, ShipItem{Order: o, Hold: time.Hour}, r); err != nil || res.Outcome != OutcomeCreated || res.Order.RSVP != "b1-1" {
		t.Fatalf("sell: %+v %v", res, err)
	}
	clk.add(2 * time.Minute)
	if n, err := ms.ReapRSVPs(ctx, "j"); err != nil || n != 5 {
		t.Fatalf("reap: %d %v, want 5 returned", n, err)
	}
	want := mustTotals(t, ms, "j")
	ms.Close()
	again, err := OpenMemStore(path, clk.now, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := mustTotals(t, again, "j"); got != want || got.Reserved != 0 || got.Free != 9 {
		t.Fatalf("after replay %+v, want %+v", got, want)
	}
	o2 := o
	o2.ID, o2.Buyer = OrderID("j", "bob", "k"), "bob"
	clk.add(-2 * time.Minute)
	if res, err := again.SellRSVP(ctx, ShipItem{Order: o2, Hold: time.Hour}, r); err != nil || res.Outcome != OutcomeRSVPUsed {
		t.Fatalf("the used token after replay: %+v %v, want used", res, err)
	}
}
