package checkout

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzJournalReplay opens a journal file of fuzzed bytes. Properties: the
// open never panics nor fails; the intact records before the first damaged
// byte are replayed first, in order; every damaged stretch is reported; and
// after the open the journal is clean at its end: a second open replays the
// same records with no damaged tail, and an append lands after them.
//
// A payload starting with '!' stands for a record that does not decode (the
// replay function wraps ErrCorruptRecord), so that path is fuzzed too.
func FuzzJournalReplay(f *testing.F) {
	f.Add(frameRecs(`{"k":"o","o":{"id":"d.aaaaaaaaaaaaaaaaaaaaaaaa","drop":"d","sku":"tee","qty":1}}`, `{"k":"s","id":"d.aaaaaaaaaaaaaaaaaaaaaaaa"}`))
	f.Add(frameRecs(`{"n":1}`, `{"n":2}`)[:20])
	f.Add(append(frameRecs(`{"n":1}`, `!bad`, `{"n":3}`), 0, 0, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var got [][]byte
		replay := func(rec []byte) error {
			if rec[0] == '!' {
				return errors.Join(ErrCorruptRecord, errors.New("test: undecodable"))
			}
			got = append(got, rec)
			return nil
		}
		j, err := OpenJournal(path, replay, nil)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		prefix, damagedAt := intactPrefix(data)
		if len(got) < len(prefix) {
			t.Fatalf("replayed %d records, fewer than the %d intact ones before the damage at %d", len(got), len(prefix), damagedAt)
		}
		for i, rec := range prefix {
			if !bytes.Equal(got[i], rec) {
				t.Fatalf("record %d replayed as %q, want %q", i, got[i], rec)
			}
		}
		damage := j.Damage()
		if damagedAt < int64(len(data)) && (len(damage) == 0 || damage[0].Offset != damagedAt) {
			t.Fatalf("damage at %d reported as %+v", damagedAt, damage)
		}
		for _, d := range damage {
			if d.Len <= 0 || d.Offset < 0 || d.Offset+d.Len > int64(len(data)) || d.Reason == "" {
				t.Fatalf("bad damage report %+v for %d bytes", d, len(data))
			}
		}
		if err := j.Append(context.Background(), []byte(`{"after":1}`)); err != nil {
			t.Fatalf("append after open: %v", err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		first := got
		got = nil
		if j, err = OpenJournal(path, replay, nil); err != nil {
			t.Fatalf("second open: %v", err)
		}
		j.Close()
		if want := append(slices.Clone(first), []byte(`{"after":1}`)); !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("second open replayed %d records, want the %d of the first and the append", len(got), len(want))
		}
		for _, d := range j.Damage() {
			if d.Tail {
				t.Fatalf("second open found a damaged tail %+v", d)
			}
		}
	})
}

// intactPrefix is the reference reader: the records before the first
// damaged byte, and that byte's offset (len(data) if none).
func intactPrefix(data []byte) (recs [][]byte, damagedAt int64) {
	off := 0
	for off+8 <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		if n == 0 || n > maxRecord || n > len(data)-off-8 {
			break
		}
		p := data[off+8 : off+8+n]
		if crc32.Checksum(p, crcTable) != binary.LittleEndian.Uint32(data[off+4:]) || p[0] == '!' {
			break
		}
		recs = append(recs, p)
		off += 8 + n
	}
	return recs, int64(off)
}

// frameRecs frames payloads as the journal writes them.
func frameRecs(payloads ...string) []byte {
	var out []byte
	for _, p := range payloads {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(p)))
		out = binary.LittleEndian.AppendUint32(out, crc32.Checksum([]byte(p), crcTable))
		out = append(out, p...)
	}
	return out
}

// sampleCheckpoint is a checkpoint with a record of every kind.
func sampleCheckpoint(tb testing.TB) []byte {
	tb.Helper()
	st := newCkState(&pastIDs{})
	o := Order{ID: OrderID("d1", "b1", "k1"), Drop: "d1", SKU: "tee", Qty: 2, Buyer: "b1", PriceCents: 100, Currency: "EUR",
		TotalCents: 200, Status: StatusPending, Edge: "e1", CreatedAt: time.Date(2026, 12, 6, 21, 0, 0, 5, time.UTC)}
	for _, rec := range []journalRec{{K: "o", O: &o}, {K: "s", I: OrderID("d1", "b2", "k2")}, {K: "s", I: OrderID("d2", "b3", "k3")}} {
		p, _ := json.Marshal(rec)
		if err := st.apply(p, nil); err != nil {
			tb.Fatal(err)
		}
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if _, err := st.encode(w, 7); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzCheckpointLoad loads a checkpoint file of fuzzed bytes. Properties:
// the load never panics nor fails; damage is reported sanely; and what was
// loaded is valid: written as a checkpoint again it loads back the same,
// without damage.
func FuzzCheckpointLoad(f *testing.F) {
	good := sampleCheckpoint(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	flipped := bytes.Clone(good)
	flipped[20] ^= 0x01
	f.Add(flipped)
	f.Add(frameRecs(`{"k":"h","v":1}`, `{"k":"p","d":"d","h":"AAAAAAAAAAAAAAAAAAAA"}`, `{"k":"b","d":"d","s":"tee","b":{"x":1}}`, `{"k":"e","n":3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "ck")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		st := newCkState(&pastIDs{})
		damage, err := st.load(path)
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		for _, d := range damage {
			if d.Offset < 0 || d.Len < 0 || d.Offset+d.Len > int64(len(data)) || d.Reason == "" {
				t.Fatalf("bad damage report %+v for %d bytes", d, len(data))
			}
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		if _, err := st.encode(w, 1); err != nil {
			t.Fatalf("encode what was loaded: %v", err)
		}
		path2 := filepath.Join(dir, "ck2")
		if err := os.WriteFile(path2, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		st2 := newCkState(&pastIDs{})
		if d2, err := st2.load(path2); err != nil || len(d2) > 0 {
			t.Fatalf("a checkpoint written from a loaded state: damage %+v, err %v", d2, err)
		}
		if a, b := ckSummary(st), ckSummary(st2); a != b {
			t.Fatalf("state changed through a write and a load:\n%s\n%s", a, b)
		}
	})
}

// ckSummary renders a state in a canonical form.
func ckSummary(st *ckState) string {
	var b strings.Builder
	for _, o := range st.unshippedOrders() {
		p, _ := json.Marshal(o)
		b.Write(p)
		b.WriteByte('\n')
	}
	for _, d := range st.past.drops() {
		var ids []string
		for _, h := range st.past.packed(d, 1) {
			ids = append(ids, joinOrderID(d, orderHash(h)))
		}
		slices.Sort(ids)
		fmt.Fprintln(&b, d, ids)
	}
	return b.String()
}
