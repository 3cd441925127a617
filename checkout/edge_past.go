package checkout

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"sync"
)

// The ids of the orders an edge accepted before its last checkpoint, which
// the store has: kept as 15-byte hashes per drop, sorted, so that a million
// load in a fraction of a second and cost 15 bytes each.

// orderHash is the hashed part of an order id (see OrderID): 24 base32
// characters are 15 bytes.
type orderHash [15]byte

// splitOrderID cuts an order id into its drop and hash.
func splitOrderID(id string) (drop string, h orderHash, ok bool) {
	drop, ok = DropOfOrder(id)
	if !ok {
		return "", h, false
	}
	var up [24]byte
	copy(up[:], id[len(drop)+1:])
	for i, c := range up {
		if c >= 'a' && c <= 'z' {
			up[i] = c - 'a' + 'A'
		}
	}
	if n, err := b32.Decode(h[:], up[:]); err != nil || n != len(h) {
		return "", h, false
	}
	return drop, h, true
}

func joinOrderID(drop string, h orderHash) string {
	return drop + "." + strings.ToLower(b32.EncodeToString(h[:]))
}

// pastIDs are the ids of orders this edge accepted and the store has, by
// drop. The checkpointer writes them; PlaceOrder reads them.
type pastIDs struct {
	mu sync.RWMutex
	m  map[string]*hashSet
	n  int
}

// hashSet is a set of order hashes kept compact: a sorted array (15 bytes
// an id, loaded from a checkpoint as it is written) and a map of the ones
// added since it was last merged.
type hashSet struct {
	sorted []byte
	recent map[orderHash]struct{}
}

const hashLen = len(orderHash{})

func (hs *hashSet) has(h orderHash) bool {
	if _, ok := hs.recent[h]; ok {
		return true
	}
	n := len(hs.sorted) / hashLen
	i := sort.Search(n, func(i int) bool { return bytes.Compare(hs.sorted[i*hashLen:(i+1)*hashLen], h[:]) >= 0 })
	return i < n && bytes.Equal(hs.sorted[i*hashLen:(i+1)*hashLen], h[:])
}

// merge folds recent into sorted, and sorts and dedupes sorted if it is not
// (a damaged checkpoint); it returns how many hashes it dropped as dupes.
func (hs *hashSet) merge() int {
	all := hs.sorted
	for h := range hs.recent {
		all = append(all, h[:]...)
	}
	hs.recent = nil
	n := len(all) / hashLen
	less := func(i, j int) bool {
		return bytes.Compare(all[i*hashLen:(i+1)*hashLen], all[j*hashLen:(j+1)*hashLen]) < 0
	}
	if !sort.SliceIsSorted(make([]struct{}, n), less) {
		sort.Sort(hashSorter(all))
	}
	out := all[:0]
	for i := 0; i < n; i++ {
		h := all[i*hashLen : (i+1)*hashLen]
		if len(out) >= hashLen && bytes.Equal(out[len(out)-hashLen:], h) {
			continue
		}
		out = append(out, h...)
	}
	hs.sorted = out
	return n - len(out)/hashLen
}

// hashSorter sorts packed hashes in place.
type hashSorter []byte

func (s hashSorter) Len() int { return len(s) / hashLen }
func (s hashSorter) Less(i, j int) bool {
	return bytes.Compare(s[i*hashLen:(i+1)*hashLen], s[j*hashLen:(j+1)*hashLen]) < 0
}
func (s hashSorter) Swap(i, j int) {
	var t orderHash
	copy(t[:], s[i*hashLen:(i+1)*hashLen])
	copy(s[i*hashLen:(i+1)*hashLen], s[j*hashLen:(j+1)*hashLen])
	copy(s[j*hashLen:(j+1)*hashLen], t[:])
}

func (p *pastIDs) has(id string) bool {
	drop, h, ok := splitOrderID(id)
	if !ok {
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	hs := p.m[drop]
	return hs != nil && hs.has(h)
}

// add adds id; false if it is not an order id.
func (p *pastIDs) add(id string) bool {
	drop, h, ok := splitOrderID(id)
	if !ok {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	hs := p.set(drop)
	if !hs.has(h) {
		if hs.recent == nil {
			hs.recent = map[orderHash]struct{}{}
		}
		hs.recent[h] = struct{}{}
		p.n++
	}
	return true
}

func (p *pastIDs) set(drop string) *hashSet {
	if p.m == nil {
		p.m = map[string]*hashSet{}
	}
	hs, ok := p.m[drop]
	if !ok {
		hs = &hashSet{}
		p.m[drop] = hs
	}
	return hs
}

// addPacked adds packed hashes as a checkpoint holds them; finishLoad must
// follow before lookups.
func (p *pastIDs) addPacked(drop string, packed []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hs := p.set(drop)
	hs.sorted = append(hs.sorted, packed...)
	p.n += len(packed) / hashLen
}

// finishLoad sorts and dedupes what addPacked added (a no-op check for a
// checkpoint as written: its hashes are sorted).
func (p *pastIDs) finishLoad() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, hs := range p.m {
		p.n -= hs.merge()
	}
}

func (p *pastIDs) forgetDrop(drop string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if hs := p.m[drop]; hs != nil {
		p.n -= len(hs.sorted)/hashLen + len(hs.recent)
	}
	delete(p.m, drop)
}

func (p *pastIDs) drops() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]string, 0, len(p.m))
	for d := range p.m {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

func (p *pastIDs) len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.n
}

// packed returns drop's hashes, sorted and concatenated, in chunks of at
// most n (merging the recent ones in first).
func (p *pastIDs) packed(drop string, n int) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	hs := p.m[drop]
	if hs == nil {
		return nil
	}
	if len(hs.recent) > 0 {
		// The old array may be read by nobody else: has holds the lock.
		hs.merge()
	}
	var out [][]byte
	for b := hs.sorted; len(b) > 0; {
		k := min(len(b), n*hashLen)
		out = append(out, b[:k:k])
		b = b[k:]
	}
	return out
}
