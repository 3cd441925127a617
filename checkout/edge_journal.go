package checkout

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// An edge's journal is its write-ahead log: every order sold from a lease is
// in it (fsynced, group commit) before the buyer hears 201, and a marker
// follows once the store has the order. Once the journal passes
// Config.JournalCheckpointBytes the edge seals its segment, folds the sealed
// segments into a checkpoint (edge_checkpoint.go) and removes them, so a
// start reads one checkpoint and the records since.

type journalRec struct {
	K string `json:"k"`            // "o" sold from the lease, "d" sold without it, "s" shipped
	O *Order `json:"o,omitempty"`  // order
	I string `json:"id,omitempty"` // shipped order id
}

// edgeJournal is the edge's journal on disk and the state of its last
// checkpoint. replay sets it up before the edge is ready; then only the
// checkpoint loop, and after it Run's drain, touch it.
type edgeJournal struct {
	files  journalFiles
	j      *Journal
	cur    uint64   // the segment appends go to
	toFold []uint64 // sealed segments not yet folded into state
	folded []uint64 // sealed segments in state, not yet covered by a checkpoint on disk
	ckSeq  uint64   // the checkpoint on disk (0: none)
	state  *ckState
	sealed int64 // bytes of the folded segments
	ckSize int64 // bytes of the checkpoint on disk
	// crash, in tests, is called at each step of a checkpoint (a SIGKILL
	// there must lose nothing).
	crash func(step string)
}

type journalMetrics struct {
	bytes       *prometheus.GaugeVec
	checkpoints *prometheus.CounterVec
	ckSeconds   prometheus.Histogram
	replayed    *prometheus.GaugeVec
}

func newJournalMetrics(reg prometheus.Registerer, edge string) (*journalMetrics, error) {
	c := prometheus.Labels{"edge": edge}
	m := &journalMetrics{
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "livedrop_checkout_journal_bytes",
			Help: "Bytes of the edge's order journal on disk, by file (segments: records since the last checkpoint; checkpoint).", ConstLabels: c}, []string{"file"}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedrop_checkout_journal_checkpoints_total",
			Help: "Journal checkpoints by result (ok, error); each ok one removed the segments it covers.", ConstLabels: c}, []string{"result"}),
		ckSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedrop_checkout_journal_checkpoint_seconds",
			Help: "Time to write a journal checkpoint and remove the segments it covers.", ConstLabels: c,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		replayed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "livedrop_checkout_journal_replayed_records",
			Help: "Records read at the last start, by source (checkpoint; journal: records since the checkpoint).", ConstLabels: c}, []string{"source"}),
	}
	for _, col := range []prometheus.Collector{m.bytes, m.checkpoints, m.ckSeconds, m.replayed} {
		if err := reg.Register(col); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return nil, err
		}
	}
	return m, nil
}

// replay loads the newest checkpoint and the journal segments after it into
// the order book, the SKUs' counters, the past ids and the ship queue, and
// opens a new segment for appends. Damage does not stop the edge: the
// orders of every intact record are loaded, and each damaged stretch is
// logged and counted.
func (e *Edge) replay() (*Journal, error) {
	jr := &e.jr
	jr.files = journalFiles{dir: filepath.Dir(e.journal), base: strings.TrimSuffix(filepath.Base(e.journal), ".journal")}
	jr.state = newCkState(&e.past)
	if err := os.MkdirAll(jr.files.dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkout edge journal dir: %w", err)
	}
	if err := os.Remove(jr.files.tmp()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("checkout edge journal: remove unfinished checkpoint: %w", err)
	}
	segs, cks, err := jr.files.list()
	if err != nil {
		return nil, fmt.Errorf("checkout edge journal: %w", err)
	}
	ckRecords := 0
	if len(cks) > 0 {
		jr.ckSeq = cks[len(cks)-1]
		path := jr.files.checkpoint(jr.ckSeq)
		damage, err := jr.state.load(path)
		if err != nil {
			return nil, fmt.Errorf("checkout edge checkpoint: %w", err)
		}
		e.reportDamage(path, damage, "checkpoint")
		if st, err := os.Stat(path); err == nil {
			jr.ckSize = st.Size()
		}
		ckRecords = len(jr.state.unshipped) + jr.state.past.len()
		for _, old := range cks[:len(cks)-1] {
			_ = os.Remove(jr.files.checkpoint(old))
		}
	}
	var sold []Order
	records := 0
	for _, seq := range segs {
		path := jr.files.segment(seq)
		if jr.ckSeq > 0 && seq <= jr.ckSeq {
			// Covered by the checkpoint: a crash came before its removal.
			_ = os.Remove(path)
			continue
		}
		damage, n, err := foldSegment(path, jr.state, func(o Order) { sold = append(sold, o) }, true)
		if err != nil {
			return nil, fmt.Errorf("checkout edge journal: %w", err)
		}
		e.reportDamage(path, damage, "")
		records += n
		jr.folded = append(jr.folded, seq)
		if st, err := os.Stat(path); err == nil {
			jr.sealed += st.Size()
		}
	}
	jr.state.shippedNow = nil
	jr.cur = jr.ckSeq + 1
	if len(segs) > 0 {
		jr.cur = max(jr.cur, segs[len(segs)-1]+1)
	}
	j, err := OpenJournalWith(jr.files.segment(jr.cur), nil, e.observeJournal, JournalOptions{Prealloc: e.cfg.JournalPreallocBytes})
	if err == nil {
		err = syncDir(jr.files.dir)
		if err != nil {
			j.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("checkout edge journal: %w", err)
	}
	jr.j = j
	e.jm.replayed.WithLabelValues("checkpoint").Set(float64(ckRecords))
	e.jm.replayed.WithLabelValues("journal").Set(float64(records))
	e.updateJournalBytes()

	// The state into the edge: unshipped orders to the book and the ship
	// queue, orders of the replayed records that the store has to the book
	// (a retry is answered from memory).
	unshipped := jr.state.unshippedOrders()
	pending := make(map[string]bool, len(unshipped))
	for _, o := range unshipped {
		pending[o.ID] = true
		eo := &edgeOrder{o: o, done: make(chan struct{}), journal: true, at: time.Now()}
		close(eo.done)
		e.book.put(o.ID, eo)
		sk := e.dropEntry(o.Drop).skuEntry(o.SKU)
		// Its units count against the allowances it was sold under until
		// the store has it (shipped orders the store counts itself).
		sk.replayedAllowances(o.Limits, o.Qty)
		sk.mu.Lock()
		sk.unshipped += o.Qty
		sk.mu.Unlock()
		e.ship.push(eo)
	}
	for _, o := range sold {
		if !pending[o.ID] {
			eo := &edgeOrder{o: o, done: make(chan struct{}), journal: true, shipped: true, at: time.Now()}
			close(eo.done)
			e.book.put(o.ID, eo)
		}
	}
	e.logger.Info("checkout edge started", "journal", jr.files.segment(jr.cur), "checkpoint", jr.ckSeq,
		"replayed_records", records, "unshipped", len(unshipped), "past_orders", e.past.len())
	return j, nil
}

// foldSegment folds the intact records of the segment at path into st. With
// cut, a damaged tail is copied to a side file and cut off (as a journal's
// open does), so the next start does not report it again.
func foldSegment(path string, st *ckState, sold func(Order), cut bool) ([]JournalDamage, int, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open segment: %w", err)
	}
	defer f.Close()
	n := 0
	good, damage, err := readRecords(f, func(rec []byte) error {
		n++
		return st.apply(rec, sold)
	})
	if err == nil && cut && len(damage) > 0 && damage[len(damage)-1].Tail {
		err = cutTail(f, path, good, &damage[len(damage)-1])
		if err == nil {
			err = f.Sync()
		}
	}
	return damage, n, err
}

func (e *Edge) reportDamage(path string, damage []JournalDamage, where string) {
	for _, d := range damage {
		kind := where
		if kind == "" {
			kind = "middle"
			if d.Tail {
				kind = "tail"
			}
		}
		e.m.damaged.WithLabelValues(kind).Inc()
		e.logger.Error("checkout edge journal damaged: orders of the intact records before and after it are kept",
			"file", path, "offset", d.Offset, "bytes", d.Len, "reason", d.Reason, "where", kind, "saved_to", d.SavedTo)
	}
}

func (e *Edge) observeJournal(batch int, d time.Duration) {
	e.m.batch.Observe(float64(batch))
	e.m.fsync.Observe(d.Seconds())
}

func (e *Edge) updateJournalBytes() {
	e.jm.bytes.WithLabelValues("segments").Set(float64(e.jr.sealed + e.jr.j.Size()))
	e.jm.bytes.WithLabelValues("checkpoint").Set(float64(e.jr.ckSize))
}

// checkpointLoop checkpoints whenever the segments pass the configured size.
func (e *Edge) checkpointLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	backoff := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.updateJournalBytes()
		if e.jr.sealed+e.jr.j.Size() < e.cfg.JournalCheckpointBytes || time.Now().Before(backoff) {
			continue
		}
		if err := e.checkpoint(ctx); err != nil {
			e.logger.Error("checkout edge journal checkpoint failed; the journal is kept whole", "err", err)
			backoff = time.Now().Add(5 * time.Second)
		}
	}
}

// checkpoint seals the current segment, folds every sealed segment into the
// state, writes the state as a checkpoint (temp file, fsync, rename, fsync
// of the directory) and then removes the segments it covers. A crash at any
// step leaves either the old checkpoint and every segment after it, or the
// new one (and perhaps segments it covers, removed at the next start).
func (e *Edge) checkpoint(ctx context.Context) (err error) {
	jr := &e.jr
	start := time.Now()
	defer func() {
		res := "ok"
		if err != nil {
			res = "error"
		}
		e.jm.checkpoints.WithLabelValues(res).Inc()
		e.jm.ckSeconds.Observe(time.Since(start).Seconds())
		e.updateJournalBytes()
	}()
	if err := jr.j.Rotate(ctx, jr.files.segment(jr.cur+1)); err != nil {
		return fmt.Errorf("seal segment: %w", err)
	}
	seq := jr.cur
	jr.cur++
	jr.toFold = append(jr.toFold, seq)
	jr.step("sealed")
	// Folding is idempotent per order id: a segment whose fold failed half
	// way is folded again, whole, next time.
	for len(jr.toFold) > 0 {
		s := jr.toFold[0]
		path := jr.files.segment(s)
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("fold segment %d: %w", s, err)
		}
		damage, _, err := foldSegment(path, jr.state, nil, false)
		if err != nil {
			return fmt.Errorf("fold segment %d: %w", s, err)
		}
		e.reportDamage(path, damage, "")
		if len(damage) > 0 {
			// Keep the damaged bytes for a look, out of the journal's way.
			if err := os.Rename(path, fmt.Sprintf("%s.damaged-%d", path, time.Now().UnixNano())); err != nil {
				return fmt.Errorf("set damaged segment aside: %w", err)
			}
		}
		jr.toFold = jr.toFold[1:]
		jr.folded = append(jr.folded, s)
		jr.sealed += st.Size()
	}
	jr.state.prune(e.dropClosed)

	tmp := jr.files.tmp()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create checkpoint: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	_, err = jr.state.encode(w, seq)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write checkpoint: %w", err)
	}
	jr.step("written")
	final := jr.files.checkpoint(seq)
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("rename checkpoint: %w", err)
	}
	jr.step("renamed")
	if err := syncDir(jr.files.dir); err != nil {
		return err
	}
	jr.step("durable")
	if st, err := os.Stat(final); err == nil {
		jr.ckSize = st.Size()
	}
	old := jr.ckSeq
	jr.ckSeq = seq
	if old > 0 {
		_ = os.Remove(jr.files.checkpoint(old))
	}
	for _, s := range jr.folded {
		if err := os.Remove(jr.files.segment(s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			e.logger.Warn("remove journal segment covered by the checkpoint", "segment", s, "err", err)
		}
		jr.step("removed")
	}
	jr.folded, jr.sealed = nil, 0
	if err := syncDir(jr.files.dir); err != nil {
		return err
	}
	jr.step("truncated")
	// The orders the store has are past ids now: the book can forget them.
	e.book.forgetShipped(jr.state.shippedNow)
	jr.state.shippedNow = nil
	return nil
}

func (jr *edgeJournal) step(name string) {
	if jr.crash != nil {
		jr.crash(name)
	}
}

// dropClosed says whether the last sync saw drop closed.
func (e *Edge) dropClosed(drop string) bool {
	e.dropsMu.Lock()
	ed, ok := e.drops[drop]
	e.dropsMu.Unlock()
	if !ok {
		return false
	}
	ed.mu.Lock()
	defer ed.mu.Unlock()
	return ed.state == StateClosed
}

// forgetShipped drops finished, shipped entries of ids from the book, a
// chunk at a time so that claims go on meanwhile.
func (b *orderBook) forgetShipped(ids []string) {
	const chunk = 1024
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		b.mu.Lock()
		for _, id := range ids[:n] {
			eo, ok := b.orders[id]
			if !ok || !eo.shipped || eo.o.ID == "" {
				continue
			}
			select {
			case <-eo.done:
				delete(b.orders, id)
			default:
			}
		}
		b.mu.Unlock()
		ids = ids[n:]
	}
}

// pastOrder answers a key this edge accepted before its last checkpoint:
// the store has the order. found is false when id is not such a key (or
// the store lost it); a store that does not answer is ErrUnavailable, never
// a second sale of the key.
func (e *Edge) pastOrder(ctx context.Context, id string) (Order, bool, error) {
	if !e.past.has(id) {
		return Order{}, false, nil
	}
	return e.storedOrder(ctx, id)
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

// markShipped journals that the store has the order; uncount is the units
// the buyer's count lost (the store recorded it for another edge, or
// cancelled). A note (no wait, no fsync of its own): a marker lost in a
// power cut only means a harmless re-ship after the restart, and an
// order's fsync must not queue behind it.
func (e *Edge) markShipped(id string) {
	if rec, err := json.Marshal(journalRec{K: "s", I: id}); err == nil {
		_ = e.j.Note(rec)
	}
}

// noteAccepted journals an order accepted without the lease (path "direct":
// sold against the store; "lookup": the store had it), so that a restarted
// edge answers a retry of its key with the store's copy. A note, as for
// markShipped: the store has the order already.
func (e *Edge) noteAccepted(o Order, path string) {
	r := journalRec{K: "s", I: o.ID}
	if path == "direct" || path == "rsvp" {
		r = journalRec{K: "d", O: &o}
	}
	if rec, err := json.Marshal(r); err == nil {
		_ = e.j.Note(rec)
	}
}
