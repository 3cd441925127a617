package checkout

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// An edge's journal is its write-ahead log: every order sold from a lease is
// in it (fsynced, group commit) before the buyer hears 201, and a marker
// follows once the store has the order. Replay rebuilds the orders not yet
// shipped and the per-buyer counts.

type journalRec struct {
	K string `json:"k"`            // "o" order, "s" shipped
	O *Order `json:"o,omitempty"`  // order
	I string `json:"id,omitempty"` // shipped order id
}

// replay opens the journal and loads what it holds into the order book, the
// SKUs' counters and the ship queue. Damage does not stop the edge: the
// orders of every intact record are loaded, and each damaged stretch is
// logged and counted.
func (e *Edge) replay() (*Journal, error) {
	var replayed []*edgeOrder
	j, err := OpenJournal(e.journal, func(rec []byte) error {
		var r journalRec
		if err := json.Unmarshal(rec, &r); err != nil {
			return fmt.Errorf("%w: %w", ErrCorruptRecord, err)
		}
		switch {
		case r.K == "o" && r.O != nil && r.O.ID != "":
			eo := &edgeOrder{o: *r.O, done: make(chan struct{}), journal: true, at: time.Now()}
			close(eo.done)
			e.book.put(r.O.ID, eo)
			replayed = append(replayed, eo)
		case r.K == "s":
			e.book.markShipped(r.I)
		default:
			return fmt.Errorf("%w: kind %q without an order", ErrCorruptRecord, r.K)
		}
		return nil
	}, e.observeJournal)
	if err != nil {
		return nil, fmt.Errorf("checkout edge journal: %w", err)
	}
	for _, d := range j.Damage() {
		kind := "middle"
		if d.Tail {
			kind = "tail"
		}
		e.m.damaged.WithLabelValues(kind).Inc()
		e.logger.Error("checkout edge journal damaged: orders of the intact records before and after it are kept",
			"journal", e.journal, "offset", d.Offset, "bytes", d.Len, "reason", d.Reason, "where", kind, "saved_to", d.SavedTo)
	}
	unshipped := 0
	for _, eo := range replayed {
		o, shipped := e.book.shippedOrder(eo)
		sk := e.dropEntry(o.Drop).skuEntry(o.SKU)
		if !shipped {
			sk.replayedAllowances(o.Limits, o.Qty)
			sk.mu.Lock()
			sk.unshipped += o.Qty
			sk.mu.Unlock()
		}
		if !shipped {
			e.ship.push(eo)
			unshipped++
		}
	}
	e.logger.Info("checkout edge started", "journal", e.journal, "replayed_orders", len(replayed), "unshipped", unshipped)
	return j, nil
}

func (e *Edge) observeJournal(batch int, d time.Duration) {
	e.m.batch.Observe(float64(batch))
	e.m.fsync.Observe(d.Seconds())
}

// journalOrder makes the order durable, then queues it for shipping. On a
// journal failure the units go back to the lease.
func (e *Edge) journalOrder(o Order, sk *edgeSKU, eo *edgeOrder) error {
	rec, err := json.Marshal(journalRec{K: "o", O: &o})
	if err == nil {
		var w Waiter
		if w, err = e.j.Enqueue(rec); err == nil {
			// Wait regardless of the caller: once queued the record may
			// become durable, and then the order exists.
			err = w.Wait(context.Background())
		}
	}
	if err != nil {
		sk.mu.Lock()
		sk.avail += o.Qty
		sk.unshipped -= o.Qty
		sk.mu.Unlock()
		sk.settleAllowances(o.Limits, o.Qty, false, false)
		return fmt.Errorf("journal order: %w", err)
	}
	e.book.update(eo, func(eo *edgeOrder) { eo.o, eo.journal = o, true })
	e.ship.push(eo)
	return nil
}

// markShipped journals that the store has the order. No wait: a lost marker
// only means a harmless re-ship after a restart.
func (e *Edge) markShipped(id string) {
	if rec, err := json.Marshal(journalRec{K: "s", I: id}); err == nil {
		_, _ = e.j.Enqueue(rec)
	}
}
