package checkout

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The seller lists a batch and cancels an unused token: its unit goes back
// to the open stock at once (the edge's counter rises), the token is
// refused with its own reason on any edge, a used token cannot be
// cancelled, cancelling twice is harmless, and after the deadline a token
// can no longer be cancelled; the list says what became of each token.
func TestRSVPListAndCancel(t *testing.T) {
	for _, c := range rsvpCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			h := rsvpHarness(t, c.store, c.now)
			h.open(t, testDrop("rc", 10, 0))
			e := rsvpEdge(t, h, "e1", c.now)
			deadline := c.now().Add(3 * time.Second)
			b, err := h.ctl.IssueRSVPs(ctx, "rc", "tee", 3, deadline)
			if err != nil {
				t.Fatal(err)
			}
			o, err := buyRSVP(e, "rc", "ann", "k-ann", b.Tokens[0].Token)
			if err != nil {
				t.Fatalf("redeem: %v", err)
			}
			eventually(t, 5*time.Second, "the edge to show 7 left", func() bool { return e.StockLeft("rc")["tee"] == 7 })

			// Cancel by id.
			if changed, err := h.ctl.CancelRSVP(ctx, "rc", b.Tokens[1].ID); err != nil || !changed {
				t.Fatalf("cancel %s: %v %v", b.Tokens[1].ID, changed, err)
			}
			if tt := mustTotals(t, c.store, "rc"); tt.Reserved != 1 || tt.Free != 8 {
				t.Fatalf("totals after the cancel: %+v, want reserved 1, free 8", tt)
			}
			eventually(t, 10*time.Second, "the edge to show 8 left", func() bool { return e.StockLeft("rc")["tee"] == 8 })
			// Twice, and by the token itself: already done.
			if changed, err := h.ctl.CancelRSVP(ctx, "rc", b.Tokens[1].Token); err != nil || changed {
				t.Fatalf("cancel again: %v %v, want no change and no error", changed, err)
			}
			if got := testutil.ToFloat64(h.ctl.rsvp.cancelled); got != 1 {
				t.Fatalf("cancelled metric %v, want 1", got)
			}
			if _, err := buyRSVP(e, "rc", "bob", "k-bob", b.Tokens[1].Token); !errors.Is(err, ErrRSVPCancelled) {
				t.Fatalf("a cancelled token: %v, want ErrRSVPCancelled", err)
			}
			if _, err := h.ctl.CancelRSVP(ctx, "rc", b.Tokens[0].ID); !errors.Is(err, ErrRSVPUsed) {
				t.Fatalf("cancelling a used token: %v, want ErrRSVPUsed", err)
			}
			for _, bad := range []string{b.Batch + "-4", "nobatch-1", b.Batch} {
				if _, err := h.ctl.CancelRSVP(ctx, "rc", bad); err == nil || !(errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid)) {
					t.Fatalf("cancel %q: %v, want not found or invalid", bad, err)
				}
			}
			if tt := mustTotals(t, c.store, "rc"); tt.Reserved != 1 || tt.Free != 8 {
				t.Fatalf("refused cancels changed the totals: %+v", tt)
			}

			list, err := h.ctl.RSVPBatches(ctx, "rc")
			if err != nil || len(list) != 1 {
				t.Fatalf("list: %+v %v", list, err)
			}
			l := list[0]
			if l.Batch != b.Batch || l.Units != 3 || l.Left != 1 || l.SKU != "tee" || !l.Deadline.Equal(b.Deadline) {
				t.Fatalf("listed batch %+v", l)
			}
			want := []struct{ state, order string }{{RSVPUsed, o.ID}, {RSVPCancelled, ""}, {RSVPOpen, ""}}
			for i, w := range want {
				tk := l.Tokens[i]
				if tk.State != w.state || tk.Order != w.order || tk.ID != b.Tokens[i].ID || tk.Token != b.Tokens[i].Token {
					t.Fatalf("token %d listed %+v, want %s %q (issued %+v)", i, tk, w.state, w.order, b.Tokens[i])
				}
			}

			c.pass(t, deadline)
			if _, err := h.ctl.CancelRSVP(ctx, "rc", b.Tokens[2].ID); !errors.Is(err, ErrRSVPExpired) {
				t.Fatalf("cancel after the deadline: %v, want ErrRSVPExpired", err)
			}
			eventually(t, 10*time.Second, "the reaper to return the last unit", func() bool {
				tt := mustTotals(t, c.store, "rc")
				return tt.Free == 9 && tt.Reserved == 0
			})
			list, err = h.ctl.RSVPBatches(ctx, "rc")
			if err != nil || list[0].Tokens[2].State != RSVPReturned || list[0].Tokens[1].State != RSVPCancelled {
				t.Fatalf("list after the deadline: %+v %v", list, err)
			}
		})
	}
}

// A cancel is a journaled op of the embedded store: it holds after a
// restart.
func TestRSVPCancelSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.journal")
	ms, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ms.CreateDrop(ctx, testDrop("rr", 5, 0)); err != nil {
		t.Fatal(err)
	}
	if err := ms.SetState(ctx, "rr", StateOpen); err != nil {
		t.Fatal(err)
	}
	if err := ms.Reserve(ctx, ReserveOp{Drop: "rr", SKU: "tee", Batch: "b1", Units: 2, Deadline: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if ok, err := ms.CancelRSVP(ctx, "rr", "b1", 2); err != nil || !ok {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	ms.Close()
	ms, err = OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if tt := mustTotals(t, ms, "rr"); tt.Free != 4 || tt.Reserved != 1 {
		t.Fatalf("totals after restart %+v, want free 4 reserved 1", tt)
	}
	bs, err := ms.RSVPBatches(ctx, "rr")
	if err != nil || len(bs) != 1 || !bs[0].Cancelled[2] || bs[0].Units != 2 || bs[0].Left != 1 {
		t.Fatalf("batches after restart %+v %v", bs, err)
	}
}

// The seller cancels a token while its holder's taps arrive through two
// edges at once: the store decides one way, never both. Either the token
// bought exactly one order and the cancel is refused as used, or the
// cancel won, every tap is refused as cancelled and the unit is free.
func TestRSVPCancelRacesTheSale(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := rsvpHarness(t, s, time.Now)
			h.open(t, testDrop("rx", 10, 0))
			edges := []*Edge{rsvpEdge(t, h, "e1", time.Now), rsvpEdge(t, h, "e2", time.Now)}
			for round := range 5 {
				b, err := h.ctl.IssueRSVPs(ctx, "rx", "tee", 1, time.Now().Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				tok := b.Tokens[0]
				type answer struct {
					o   Order
					err error
				}
				answers := make(chan answer, 10)
				var cancelErr error
				var cancelled bool
				done := make(chan struct{})
				go func() {
					defer close(done)
					cancelled, cancelErr = h.ctl.CancelRSVP(ctx, "rx", tok.ID)
				}()
				for i := range 10 {
					go func() {
						o, err := buyRSVP(edges[i%2], "rx", fmt.Sprintf("holder%d", round), fmt.Sprintf("k%d-%d", round, i), tok.Token)
						answers <- answer{o, err}
					}()
				}
				<-done
				orders := map[string]bool{}
				for range 10 {
					a := <-answers
					switch {
					case a.err == nil:
						orders[a.o.ID] = true
					case errors.Is(a.err, ErrRSVPUsed), errors.Is(a.err, ErrRSVPCancelled), ClassOf(a.err) == ClassUnavailable:
					default:
						t.Fatalf("round %d: a tap got %v", round, a.err)
					}
				}
				switch {
				case cancelErr == nil && cancelled:
					if len(orders) != 0 {
						t.Fatalf("round %d: the cancel won and %d orders were sold too", round, len(orders))
					}
				case errors.Is(cancelErr, ErrRSVPUsed):
					if len(orders) != 1 {
						t.Fatalf("round %d: the sale won with %d orders, want 1", round, len(orders))
					}
				default:
					t.Fatalf("round %d: cancel answered %v %v", round, cancelled, cancelErr)
				}
			}
			if tt := mustTotals(t, s, "rx"); tt.Reserved != 0 || tt.Free+tt.Sold+tt.HeldAtEdges != 10 {
				t.Fatalf("totals after the races %+v: every unit must be free, sold or leased, none still reserved", tt)
			}
		})
	}
}
