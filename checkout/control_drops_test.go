package checkout

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDropCatalogue: the seller lists drops in run-of-show order, edits one
// before it opens (an edge that already read it sells at the edited price),
// is refused once it opened, duplicates it, and an edited opening time is
// kept by the schedule. Both stores.
func TestDropCatalogue(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarnessOn(t, testConfig(), s)
			e := h.edge(t, "e1", testConfig(), nil)
			late, early := testDrop("late", 5, 0), testDrop("early", 5, 0)
			late.OpensAt = time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
			early.OpensAt = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
			for _, d := range []Drop{late, early, testDrop("unscheduled", 1, 0)} {
				if _, err := h.ctl.CreateDrop(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			list, err := h.ctl.ListDrops(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var order []string
			for _, d := range list {
				order = append(order, d.ID+":"+d.State)
			}
			if got := strings.Join(order, ","); got != "early:created,late:created,unscheduled:created" {
				t.Fatalf("list = %s", got)
			}

			// The edge reads the drop before it opens (refused: not open).
			if _, err := e.PlaceOrder(ctx, OrderRequest{Drop: "early", SKU: "tee", Qty: 1, Buyer: "b1", IdempotencyKey: "k0"}); ClassOf(err) != ClassNotOpen {
				t.Fatalf("before opening: %v", err)
			}
			ed := early
			ed.SKUs = []SKU{{SKU: "hoodie", Name: "Hoodie", PriceCents: 4900, Currency: "EUR", Stock: 3}}
			ed.OpensAt = time.Now().Add(300 * time.Millisecond)
			if _, err := h.ctl.UpdateDrop(ctx, ed); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Drop(ctx, "early")
			if got.State != StateCreated || len(got.SKUs) != 1 || got.SKUs[0].SKU != "hoodie" {
				t.Fatalf("after edit: %+v", got)
			}
			tot := mustTotals(t, s, "early")
			if tot.SKU != "hoodie" || tot.Stock != 3 || tot.Free != 3 {
				t.Fatalf("totals after edit: %+v", tot)
			}
			// The schedule opens it at the edited time, and the edge sells
			// the edited SKU at its edited price.
			var o Order
			eventually(t, 10*time.Second, "an order of the edited drop", func() bool {
				o, err = e.PlaceOrder(ctx, OrderRequest{Drop: "early", SKU: "hoodie", Qty: 1, Buyer: "b1", IdempotencyKey: fmt.Sprint("k", time.Now().UnixNano())})
				return err == nil
			})
			if o.PriceCents != 4900 {
				t.Fatalf("order price = %d, want the edited 4900", o.PriceCents)
			}
			_, err = h.ctl.UpdateDrop(ctx, ed)
			if ClassOf(err) != ClassConflict || !strings.Contains(err.Error(), "can no longer be edited") {
				t.Fatalf("edit of an open drop: %v", err)
			}

			// A bad edit names the field; a missing drop is not found.
			bad := late
			bad.SKUs = []SKU{{SKU: "tee", Currency: "eur", Stock: 1}}
			if _, err := h.ctl.UpdateDrop(ctx, bad); ClassOf(err) != ClassInvalid || !strings.Contains(err.Error(), "skus[0].currency") {
				t.Fatalf("bad edit: %v", err)
			}
			if _, err := h.ctl.UpdateDrop(ctx, Drop{ID: "nope", Stream: "cam1", SKUs: late.SKUs}); ClassOf(err) != ClassNotFound {
				t.Fatalf("edit of a missing drop: %v", err)
			}

			// Duplicate the open drop: a created copy, not scheduled.
			cp, err := h.ctl.DuplicateDrop(ctx, "early", "early-copy", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if cp.State != StateCreated || !cp.OpensAt.IsZero() || cp.SKUs[0].SKU != "hoodie" || mustTotals(t, s, "early-copy").Free != 3 {
				t.Fatalf("copy: %+v", cp)
			}
			if _, err := h.ctl.DuplicateDrop(ctx, "early", "late", time.Time{}); ClassOf(err) != ClassConflict {
				t.Fatalf("duplicate onto an existing id: %v", err)
			}
			// Scheduling the copy by an edit opens it on time.
			cp.OpensAt = time.Now().Add(200 * time.Millisecond)
			if _, err := h.ctl.UpdateDrop(ctx, cp); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the copy opened by the schedule", func() bool {
				d, err := s.Drop(ctx, "early-copy")
				return err == nil && d.State == StateOpen
			})
		})
	}
}

// TestMemStoreEditReplays: an edit is journaled; the embedded store opened
// again has the edited definition and stock.
func TestMemStoreEditReplays(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/store.journal"
	s, err := OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDrop(ctx, testDrop("d1", 5, 0)); err != nil {
		t.Fatal(err)
	}
	ed := testDrop("d1", 7, 0)
	ed.SKUs[0].Prices = map[string]RegionalPrice{"us": {Currency: "USD", Cents: 2900}}
	if err := s.UpdateDrop(ctx, ed); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenMemStore(path, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Drop(ctx, "d1")
	if err != nil || d.SKUs[0].Stock != 7 || d.SKUs[0].Prices["us"].Cents != 2900 || mustTotals(t, s, "d1").Free != 7 {
		t.Fatalf("after replay: %+v %v", d, err)
	}
}
