package checkout

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A damaged edge journal (a torn last record, flipped bytes, garbage at the
// end, a record that does not decode) must not stop the edge nor lose the
// orders of intact records: these tests sell real orders on an edge, damage
// its journal the way a disk or a crash does, restart it and ask which
// orders it still knows.

// frame is one record of a journal file as the test reads it.
type frame struct {
	start, end int64
	rec        journalRec
}

// frames parses a journal file with the framing spelled out independently
// of journal.go.
func frames(t *testing.T, data []byte) []frame {
	t.Helper()
	var out []frame
	data = bytes.TrimRight(data, "\x00") // preallocated room after the records
	for off := 0; off < len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		payload := data[off+8 : off+8+n]
		if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(data[off+4:]) {
			t.Fatalf("journal written by the edge is damaged at %d", off)
		}
		var r journalRec
		if err := json.Unmarshal(payload, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{int64(off), int64(off + 8 + n), r})
		off += 8 + n
	}
	return out
}

// runEdge starts an edge on dataDir and returns it with its registry and a
// stop function that ends Run and fails the test if Run failed.
func runEdge(t *testing.T, s Store, dataDir string) (*Edge, *prometheus.Registry, func()) {
	t.Helper()
	return runEdgeWith(t, s, dataDir, testConfig(), nil)
}

// runEdgeWith is runEdge with a configuration and, if not nil, a hook
// called at each step of every checkpoint.
func runEdgeWith(t *testing.T, s Store, dataDir string, cfg Config, crash func(step string)) (*Edge, *prometheus.Registry, func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	e, err := NewEdge(EdgeParams{Logger: testLogger(t), Registerer: reg, Config: cfg, DataDir: dataDir, EdgeID: "e1", Store: s})
	if err != nil {
		t.Fatal(err)
	}
	e.jr.crash = crash
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	select {
	case <-e.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("edge did not start: %v", err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("edge run: %v", err)
		}
	}
	t.Cleanup(stop)
	return e, reg, stop
}

// soldJournal sells orders from an edge's lease until its journal holds at
// least n orders, stops the edge, and returns the journal's path, bytes and
// frames.
func soldJournal(t *testing.T, n int) (s Store, dataDir, path string, data []byte, fs []frame) {
	t.Helper()
	ms, err := OpenMemStore(filepath.Join(t.TempDir(), "store.journal"), nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	h := newHarnessOn(t, testConfig(), ms)
	h.open(t, testDrop("dmg", 1000, 0))
	dataDir = t.TempDir()
	e, _, stop := runEdge(t, ms, dataDir)
	eventually(t, 5*time.Second, "a lease at the edge", func() bool { return mustTotals(t, ms, "dmg").HeldAtEdges > 0 })
	path = e.jr.files.segment(e.jr.cur)
	for i := 0; ; i++ {
		if _, err := buy(e, "dmg", fmt.Sprintf("b%d", i), 1); err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		data, _ = os.ReadFile(path)
		if orders(frames(t, data)) >= n {
			break
		}
		if i > 10*n {
			t.Fatalf("%d orders placed, fewer than %d from the lease", i, n)
		}
	}
	stop()
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.TrimRight(data, "\x00") // the damage cases work on the records
	return ms, dataDir, path, data, frames(t, data)
}

func orders(fs []frame) int {
	n := 0
	for _, f := range fs {
		if f.rec.K == "o" {
			n++
		}
	}
	return n
}

// orderFrames returns the indexes of the order records.
func orderFrames(fs []frame) []int {
	var out []int
	for i, f := range fs {
		if f.rec.K == "o" {
			out = append(out, i)
		}
	}
	return out
}

// known returns the ids of fs's orders that e knows, and those it lost.
func known(e *Edge, fs []frame) (kept, lost []string) {
	for _, f := range fs {
		if f.rec.K != "o" {
			continue
		}
		if _, ok := e.book.lookup(f.rec.O.ID); ok {
			kept = append(kept, f.rec.O.ID)
		} else {
			lost = append(lost, f.rec.O.ID)
		}
	}
	return kept, lost
}

func damagedCount(t *testing.T, reg *prometheus.Registry, where string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "livedrop_checkout_journal_damaged_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "where" && l.GetValue() == where {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0 // a vector without children is not gathered
}

func TestEdgeJournalDamage(t *testing.T) {
	cases := []struct {
		name string
		// damage returns the damaged file and the index (in fs) of the
		// order records that must be lost (-1: none).
		damage func(data []byte, fs []frame) ([]byte, int)
		tail   bool // the damage is at the end: cut off and saved
	}{
		{"torn last order", func(data []byte, fs []frame) ([]byte, int) {
			last := orderFrames(fs)[len(orderFrames(fs))-1]
			return data[:fs[last].end-3], last
		}, true},
		{"flipped payload byte in the middle", func(data []byte, fs []frame) ([]byte, int) {
			mid := orderFrames(fs)[len(orderFrames(fs))/2]
			d := bytes.Clone(data)
			d[fs[mid].start+20] ^= 0x40
			return d, mid
		}, false},
		{"flipped length byte in the middle", func(data []byte, fs []frame) ([]byte, int) {
			mid := orderFrames(fs)[len(orderFrames(fs))/2]
			d := bytes.Clone(data)
			d[fs[mid].start+1] ^= 0x01
			return d, mid
		}, false},
		{"garbage appended", func(data []byte, fs []frame) ([]byte, int) {
			return append(bytes.Clone(data), "\x07\x00\x00\x00\x00\x00\x00\x00{\"k\":\"o\" garbage from a bad disk"...), -1
		}, true},
		{"intact record that does not decode", func(data []byte, fs []frame) ([]byte, int) {
			mid := fs[orderFrames(fs)[1]].end
			bad := []byte(`{"k":"o","o":`)
			var hdr [8]byte
			binary.LittleEndian.PutUint32(hdr[:4], uint32(len(bad)))
			binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(bad, crcTable))
			d := slices.Concat(data[:mid], hdr[:], bad, data[mid:])
			return d, -1
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, dataDir, path, data, fs := soldJournal(t, 6)
			damaged, lost := tc.damage(data, fs)
			if err := os.WriteFile(path, damaged, 0o644); err != nil {
				t.Fatal(err)
			}
			e, reg, stop := runEdge(t, s, dataDir)
			kept, gone := known(e, fs)
			var want []string
			for i, f := range fs {
				if f.rec.K == "o" && i != lost {
					want = append(want, f.rec.O.ID)
				}
			}
			if !slices.Equal(kept, want) {
				t.Fatalf("after %s the edge knows %d orders, want %d; lost %v", tc.name, len(kept), len(want), gone)
			}
			if lost >= 0 && slices.Contains(kept, fs[lost].rec.O.ID) {
				t.Fatalf("the damaged order %s was replayed", fs[lost].rec.O.ID)
			}
			where := "middle"
			if tc.tail {
				where = "tail"
			}
			if n := damagedCount(t, reg, where); n != 1 {
				t.Fatalf("livedrop_checkout_journal_damaged_total{where=%q} = %v, want 1", where, n)
			}
			sides, _ := filepath.Glob(path + ".damaged-*")
			if tc.tail != (len(sides) == 1) {
				t.Fatalf("side files %v; want one only for a damaged tail", sides)
			}
			if tc.tail {
				saved, _ := os.ReadFile(sides[0])
				if cut := damaged[len(damaged)-len(saved):]; len(saved) == 0 || !bytes.Equal(saved, cut) {
					t.Fatalf("side file holds %q, want the cut tail", saved)
				}
			}

			// The edge goes on selling; a restart finds its new order after
			// the kept ones and no new damage at the end.
			o, err := buy(e, "dmg", "after-damage", 1)
			if err != nil {
				t.Fatalf("order after the damaged start: %v", err)
			}
			stop()
			e2, reg2, _ := runEdge(t, s, dataDir)
			kept2, _ := known(e2, fs)
			if !slices.Equal(kept2, want) {
				t.Fatalf("second restart knows %d of the orders, want %d", len(kept2), len(want))
			}
			if _, ok := e2.book.lookup(o.ID); !ok && journals(path, o.ID) {
				t.Fatalf("order %s placed after the damaged start is lost", o.ID)
			}
			if n := damagedCount(t, reg2, "tail"); n != 0 {
				t.Fatalf("second restart found a damaged tail again (%v)", n)
			}
		})
	}
}

// journals reports whether a journal segment next to path records order
// id as sold from the lease.
func journals(path, id string) bool {
	segs, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "edge-*.journal*"))
	for _, s := range segs {
		data, _ := os.ReadFile(s)
		if bytes.Contains(data, []byte(`"k":"o","o":{"id":"`+id)) {
			return true
		}
	}
	return false
}

// TestJournalDamageInTheMiddleKeepsLaterAppends checks the journal itself:
// a damaged stretch between intact records stays put (it is not cut off),
// records after it replay, and appends land after the last record.
func TestJournalDamageInTheMiddleKeepsLaterAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, err := OpenJournal(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := j.Append(context.Background(), fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	data, _ := os.ReadFile(path)
	data[2*(8+7)+9] ^= 0xff // record 2's payload
	os.WriteFile(path, data, 0o644)

	var got []string
	replay := func(rec []byte) error { got = append(got, string(rec)); return nil }
	if j, err = OpenJournal(path, replay, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"n":0}`, `{"n":1}`, `{"n":3}`, `{"n":4}`}
	if !slices.Equal(got, want) {
		t.Fatalf("replayed %q, want %q", got, want)
	}
	if d := j.Damage(); len(d) != 1 || d[0].Offset != 2*(8+7) || d[0].Len != 8+7 || d[0].Tail || d[0].Reason != "record checksum mismatch" {
		t.Fatalf("damage = %+v, want record 2 (offset 30, 15 bytes, checksum)", d)
	}
	if err := j.Append(context.Background(), []byte(`{"n":5}`)); err != nil {
		t.Fatal(err)
	}
	j.Close()
	got = nil
	if j, err = OpenJournal(path, replay, nil); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if want = append(want, `{"n":5}`); !slices.Equal(got, want) {
		t.Fatalf("after an append past the damage: %q, want %q", got, want)
	}
}

// ckFrames parses a checkpoint file with the framing spelled out.
func ckFrames(t *testing.T, data []byte) (out []struct {
	start, end int64
	rec        ckRec
}) {
	t.Helper()
	for off := 0; off < len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		var r ckRec
		if err := json.Unmarshal(data[off+8:off+8+n], &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, struct {
			start, end int64
			rec        ckRec
		}{int64(off), int64(off + 8 + n), r})
		off += 8 + n
	}
	return out
}

// TestEdgeCheckpointDamage damages a checkpoint the way a disk does: the
// edge starts, reports it, and keeps the orders of every intact record.
func TestEdgeCheckpointDamage(t *testing.T) {
	cases := []struct {
		name string
		kind string // the record damaged
		cut  bool   // cut the file inside it instead of flipping a byte
	}{
		{"flipped byte in an unshipped order", "u", false},
		{"flipped byte in shipped ids", "p", false},
		{"cut inside the end record", "e", true},
		{"cut inside an unshipped order", "u", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := gatedMemStore(t)
			cfg := testConfig()
			cfg.JournalCheckpointBytes = 2048
			h := newHarnessOn(t, cfg, s)
			h.open(t, testDrop("ckd", 1000, 0))
			dir := t.TempDir()
			e, reg, stop := runEdgeWith(t, s, dir, cfg, nil)
			eventually(t, 5*time.Second, "a lease at the edge", func() bool { return mustTotals(t, s, "ckd").HeldAtEdges > 0 })
			var acked []Order
			for i := range 60 {
				if i == 30 {
					settled(t, s, "ckd", 30)
					s.down.Store(true) // the rest stay unshipped
				}
				o, err := buy(e, "ckd", fmt.Sprintf("b%d", i), 1)
				if err != nil {
					t.Fatalf("order %d: %v", i, err)
				}
				acked = append(acked, o)
			}
			eventually(t, 5*time.Second, "a checkpoint holding the orders", func() bool {
				segs, _ := journalFilesBytes(t, dir)
				return segs < cfg.JournalCheckpointBytes && metricValue(t, reg, "livedrop_checkout_journal_checkpoints_total", map[string]string{"result": "ok"}) > 0
			})
			stop()
			paths, _ := filepath.Glob(filepath.Join(dir, "checkout", "edge-e1.checkpoint.*"))
			if len(paths) != 1 {
				t.Fatalf("checkpoints on disk: %v, want one", paths)
			}
			data, _ := os.ReadFile(paths[0])
			fs := ckFrames(t, data)
			victim := -1
			for i, f := range fs {
				if f.rec.K == tc.kind {
					victim = i
					break
				}
			}
			if victim < 0 {
				t.Fatalf("no %q record in the checkpoint", tc.kind)
			}
			v := fs[victim]
			lost := map[string]bool{}
			loses := func(r ckRec) {
				switch r.K {
				case "u":
					lost[r.O.ID] = true
				case "p":
					for i := 0; i < len(r.H); i += 15 {
						lost[joinOrderID(r.D, orderHash(r.H[i:i+15]))] = true
					}
				}
			}
			loses(v.rec)
			if tc.cut {
				for _, f := range fs[victim+1:] {
					loses(f.rec)
				}
				data = data[:v.start+12]
			} else {
				data = bytes.Clone(data)
				data[v.start+10] ^= 0x20
			}
			if err := os.WriteFile(paths[0], data, 0o644); err != nil {
				t.Fatal(err)
			}

			s.down.Store(false)
			e, reg, _ = runEdgeWith(t, s, dir, cfg, nil)
			if n := damagedCount(t, reg, "checkpoint"); n != 1 {
				t.Fatalf("livedrop_checkout_journal_damaged_total{where=checkpoint} = %v, want 1", n)
			}
			for _, o := range acked {
				_, inBook := e.book.lookup(o.ID)
				if known := inBook || e.past.has(o.ID); known == lost[o.ID] {
					t.Fatalf("order %s: known %v after the damage, lost %v", o.ID, known, lost[o.ID])
				}
			}
			// The unshipped orders of intact records reach the store.
			eventually(t, 10*time.Second, "the intact unshipped orders in the store", func() bool {
				for _, o := range acked[30:] {
					if _, err := s.Order(context.Background(), o.ID); err != nil && !lost[o.ID] {
						return false
					}
				}
				return true
			})
			if _, err := buy(e, "ckd", "after-damage", 1); err != nil {
				t.Fatalf("order after the damaged start: %v", err)
			}
		})
	}
}
