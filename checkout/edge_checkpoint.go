package checkout

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// An edge's checkpoint is the state its journal's records add up to, so
// that the records can go: the orders not yet shipped, in full; the ids of
// the shipped ones, for as long as their drop is not closed (a retried key
// the edge had accepted is then answered with the store's copy, not sold
// again); and what each buyer bought of each SKU with a per-buyer limit.
// Its size follows the live drops, not the edge's history.
//
// Files, in DataDir/checkout:
//
//	edge-ID.journal.SEQ     journal segments, appended in order (SEQ from 1;
//	                        the unnumbered edge-ID.journal of older versions
//	                        is segment 0)
//	edge-ID.checkpoint.SEQ  the state after every segment up to SEQ
//	edge-ID.checkpoint.tmp  a checkpoint being written; removed at start
//
// A checkpoint is written to the temp file, fsynced, renamed and its
// directory fsynced; only then are the segments it covers removed. A start
// reads the newest checkpoint, removes segments it covers (a crash between
// the rename and their removal leaves them) and replays the others.

// journalFiles names an edge's journal files.
type journalFiles struct{ dir, base string }

func (f journalFiles) segment(seq uint64) string {
	if seq == 0 {
		return filepath.Join(f.dir, f.base+".journal")
	}
	return filepath.Join(f.dir, fmt.Sprintf("%s.journal.%016d", f.base, seq))
}

func (f journalFiles) checkpoint(seq uint64) string {
	return filepath.Join(f.dir, fmt.Sprintf("%s.checkpoint.%016d", f.base, seq))
}

func (f journalFiles) tmp() string { return filepath.Join(f.dir, f.base+".checkpoint.tmp") }

// list returns the segments and checkpoints in dir, in order.
func (f journalFiles) list() (segs, cks []uint64, err error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("list journal dir: %w", err)
	}
	seq := func(name, prefix string) (uint64, bool) {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || len(rest) != 16 {
			return 0, false
		}
		n, err := strconv.ParseUint(rest, 10, 64)
		return n, err == nil && n > 0
	}
	for _, e := range ents {
		name := e.Name()
		if name == f.base+".journal" {
			segs = append(segs, 0)
		} else if n, ok := seq(name, f.base+".journal."); ok {
			segs = append(segs, n)
		} else if n, ok := seq(name, f.base+".checkpoint."); ok {
			cks = append(cks, n)
		}
	}
	slices.Sort(segs)
	slices.Sort(cks)
	return segs, cks, nil
}

// ckState is what a checkpoint holds, and what folding journal records
// into it makes. Folding is idempotent per order id: an order is counted
// once, however often its records are seen.
type ckState struct {
	unshipped map[string]Order
	queue     []string // unshipped ids in journal order (ids shipped since are skipped)
	past      *pastIDs
	// shippedNow collects the ids that became past since it was last taken:
	// the live order book can forget them.
	shippedNow []string
}

func newCkState(past *pastIDs) *ckState {
	return &ckState{unshipped: map[string]Order{}, past: past}
}

// apply folds one journal record in; sold, if not nil, is told every order
// sold from the lease that the record adds.
func (s *ckState) apply(rec []byte, sold func(Order)) error {
	var r journalRec
	if err := json.Unmarshal(rec, &r); err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptRecord, err)
	}
	switch {
	case r.K == "o" && r.O != nil && validOrder(r.O):
		id := r.O.ID
		if _, ok := s.unshipped[id]; ok || s.past.has(id) {
			return nil
		}
		s.unshipped[id] = *r.O
		s.queue = append(s.queue, id)
		if sold != nil {
			sold(*r.O)
		}
	case r.K == "d" && r.O != nil && validOrder(r.O):
		if !s.past.has(r.O.ID) {
			s.past.add(r.O.ID)
			s.shippedNow = append(s.shippedNow, r.O.ID)
		}
	case r.K == "s" && r.I != "":
		delete(s.unshipped, r.I)
		if !s.past.add(r.I) {
			return fmt.Errorf("%w: shipped marker for %q, not an order id", ErrCorruptRecord, r.I)
		}
		s.shippedNow = append(s.shippedNow, r.I)
	default:
		return fmt.Errorf("%w: kind %q without an order", ErrCorruptRecord, r.K)
	}
	return nil
}

func validOrder(o *Order) bool {
	d, ok := DropOfOrder(o.ID)
	return ok && d == o.Drop && ValidID(o.SKU) && o.Qty > 0
}

// unshippedOrders lists the orders not shipped, in journal order, and
// compacts the queue.
func (s *ckState) unshippedOrders() []Order {
	q := s.queue[:0]
	out := make([]Order, 0, len(s.unshipped))
	seen := make(map[string]bool, len(s.unshipped))
	for _, id := range s.queue {
		if o, ok := s.unshipped[id]; ok && !seen[id] {
			seen[id] = true
			q = append(q, id)
			out = append(out, o)
		}
	}
	s.queue = q
	return out
}

// prune forgets what a checkpoint needs no more: ids of closed drops with
// nothing left to ship (a retry there is answered by the store). Purchase
// limits need nothing here: the store counts shipped orders, and the
// unshipped ones are kept whole.
func (s *ckState) prune(closed func(drop string) bool) {
	busy := map[string]bool{}
	for _, o := range s.unshipped {
		busy[o.Drop] = true
	}
	for _, d := range s.past.drops() {
		if !busy[d] && closed(d) {
			s.past.forgetDrop(d)
		}
	}
}

// ckRec is one record of a checkpoint file, framed as journal records are.
type ckRec struct {
	K string `json:"k"`           // h header, u unshipped order, p shipped ids of a drop, e end
	V int    `json:"v,omitempty"` // header: format version
	C uint64 `json:"c,omitempty"` // header: last segment covered
	O *Order `json:"o,omitempty"`
	D string `json:"d,omitempty"`
	H []byte `json:"h,omitempty"` // packed order hashes of drop D
	N int    `json:"n,omitempty"` // end: records before it
}

const (
	ckVersion = 1
	ckIDChunk = 4096 // ids per "p" record: 60 KiB
)

// encode writes the state covering segments up to covers to w.
func (s *ckState) encode(w *bufio.Writer, covers uint64) (records int, err error) {
	put := func(r ckRec) {
		if err != nil {
			return
		}
		var p []byte
		if p, err = json.Marshal(r); err != nil {
			return
		}
		var hdr [8]byte
		binary.LittleEndian.PutUint32(hdr[:4], uint32(len(p)))
		binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(p, crcTable))
		if _, err = w.Write(hdr[:]); err == nil {
			_, err = w.Write(p)
		}
		records++
	}
	put(ckRec{K: "h", V: ckVersion, C: covers})
	for _, o := range s.unshippedOrders() {
		put(ckRec{K: "u", O: &o})
	}
	for _, d := range s.past.drops() {
		for _, h := range s.past.packed(d, ckIDChunk) {
			put(ckRec{K: "p", D: d, H: h})
		}
	}
	put(ckRec{K: "e", N: records})
	if err == nil {
		err = w.Flush()
	}
	return records, err
}

// load reads the checkpoint at path into s. Like a journal, damage is
// skipped and reported, never fatal: the intact records are loaded. A
// checkpoint without its end record is reported damaged at its end.
func (s *ckState) load(path string) ([]JournalDamage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint: %w", err)
	}
	defer f.Close()
	records, ended, want := 0, false, 0
	_, damage, err := readRecords(f, func(rec []byte) error {
		var r ckRec
		if err := json.Unmarshal(rec, &r); err != nil {
			return fmt.Errorf("%w: %w", ErrCorruptRecord, err)
		}
		if err := s.loadRec(r); err != nil {
			return err
		}
		if r.K == "e" {
			ended, want = true, r.N
		}
		records++
		return nil
	})
	s.past.finishLoad()
	if err != nil {
		return nil, err
	}
	if len(damage) == 0 && (!ended || want != records-1) {
		// Every record read is intact, yet some are missing: say so.
		st, _ := f.Stat()
		damage = append(damage, JournalDamage{Offset: st.Size(), Tail: true,
			Reason: fmt.Sprintf("checkpoint incomplete: %d records, end record %v (for %d)", records, ended, want)})
	}
	return damage, nil
}

func (s *ckState) loadRec(r ckRec) error {
	bad := func(why string) error { return fmt.Errorf("%w: checkpoint record %q: %s", ErrCorruptRecord, r.K, why) }
	switch r.K {
	case "h":
		if r.V != ckVersion {
			return bad(fmt.Sprintf("version %d, want %d", r.V, ckVersion))
		}
	case "u":
		if r.O == nil || !validOrder(r.O) {
			return bad("no valid order")
		}
		if _, dup := s.unshipped[r.O.ID]; !dup {
			s.unshipped[r.O.ID] = *r.O
			s.queue = append(s.queue, r.O.ID)
		}
	case "p":
		if !ValidID(r.D) || len(r.H) == 0 || len(r.H)%len(orderHash{}) != 0 {
			return bad("ids not a whole number of hashes of a valid drop")
		}
		s.past.addPacked(r.D, r.H)
	case "e":
	default:
		return bad("unknown kind")
	}
	return nil
}
