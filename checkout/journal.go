package checkout

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Journal is an append-only write-ahead log with group commit: one writer
// goroutine takes every record queued since its last fsync, writes them, calls
// fsync once, and then releases each waiter whose record that fsync covered.
//
// A record is framed as length (uint32 LE), CRC-32C (uint32 LE), payload.
// Opening replays every intact record in file order. Damage is skipped and
// reported (Damage), never fatal: a damaged stretch between intact records
// stays where it is, and a damaged tail (a torn write, garbage appended) is
// copied to a side file and cut off, so appends go on from the last intact
// record.
//
// Rotate seals the file and goes on in a new one (a segment), so that a
// checkpoint can take the sealed files' place (edge_checkpoint.go).
//
// A note (Note) is a record nobody waits for: it is written (so it
// survives the process being killed) but asks for no fsync of its own; the
// next record that is waited for, a rotation or Close makes it durable. So
// bookkeeping records never put an fsync in front of a buyer's.
//
// With JournalOptions.Prealloc the file is kept zeroed ahead of its appends
// (journal_prealloc.go) and a commit calls fdatasync: overwriting blocks the
// file already has changes no metadata, so the fsync is the data and a
// cache flush, without a filesystem journal commit (which on a shared disk
// carries every other process's metadata too). Opening ignores the zeros
// after the last nonzero byte: a record never ends in 0x00 (Enqueue and
// Note refuse one that does).
type Journal struct {
	path     string
	f        *os.File // owned by the writer once it runs
	reqs     chan *jreq
	rot      chan rotReq
	stop     chan struct{}
	stopped  chan struct{}
	observe  func(batch int, fsync time.Duration)
	size     atomic.Int64 // bytes in the current file
	unsynced bool         // writer's: notes written to the file since its last fsync

	// Preallocation (journal_prealloc.go). allocMu orders the writer's
	// appends and the extender's zeros: zeros go only after size; the
	// writer changes f and size under it.
	prealloc int64
	allocMu  sync.Mutex
	alloc    int64         // bytes of the file (zeros from size on), under allocMu
	kick     chan struct{} // asks the extender for more room
	extDone  chan struct{} // closed when the extender has stopped

	mu     sync.Mutex // guards closed and orders enqueues
	closed bool

	errMu sync.Mutex
	err   error // sticky write error

	damage []JournalDamage // found by OpenJournal
}

// JournalDamage is a stretch of a journal that held no intact record when
// it was opened.
type JournalDamage struct {
	Offset int64  // first damaged byte
	Len    int64  // damaged bytes
	Reason string // what was wrong at Offset
	// Tail is set when no intact record follows: the stretch was cut off
	// and its bytes kept in SavedTo ("" if they could not be saved).
	Tail    bool
	SavedTo string
}

// ErrCorruptRecord, wrapped by a replay function's error, says an intact
// record does not decode: it is skipped and reported as damage instead of
// failing the open.
var ErrCorruptRecord = errors.New("corrupt journal record")

type jreq struct {
	data []byte
	done chan error // nil for a note: nobody waits
}

type rotReq struct {
	path string
	done chan error
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maxRecord bounds one journal record.
const maxRecord = 1 << 20

// maxBatch bounds the records written under one fsync.
const maxBatch = 4096

// JournalOptions tune a journal.
type JournalOptions struct {
	// Prealloc, if > 0, keeps this many zeroed bytes ahead of the appends
	// (at least half of it at any time) and commits with fdatasync.
	Prealloc int64
}

// OpenJournal opens (creating it and its directory if needed) the journal at
// path, calls replay for every intact record in order, skips and records
// damage (see Journal), and starts the writer. A replay error fails the open
// unless it wraps ErrCorruptRecord. observe, if not nil, is told each
// batch's size and fsync duration. Close stops the writer.
func OpenJournal(path string, replay func(rec []byte) error, observe func(batch int, fsync time.Duration)) (*Journal, error) {
	return OpenJournalWith(path, replay, observe, JournalOptions{})
}

// OpenJournalWith is OpenJournal with options.
func OpenJournalWith(path string, replay func(rec []byte) error, observe func(batch int, fsync time.Duration), opts JournalOptions) (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("journal dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	good, damage, err := readRecords(f, replay)
	if err == nil && len(damage) > 0 && damage[len(damage)-1].Tail {
		err = cutTail(f, path, good, &damage[len(damage)-1])
	}
	if err == nil {
		_, err = f.Seek(good, io.SeekStart)
	}
	var alloc int64
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			alloc = st.Size()
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	j := &Journal{
		path:    path,
		f:       f,
		reqs:    make(chan *jreq, maxBatch),
		rot:     make(chan rotReq),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		observe: observe,
		damage:  damage,

		prealloc: max(opts.Prealloc, 0),
		alloc:    alloc,
		kick:     make(chan struct{}, 1),
		extDone:  make(chan struct{}),
	}
	j.size.Store(good)
	if j.prealloc > 0 {
		// The first room before the first commit; more as appends use it.
		j.extend()
		go j.extender()
	} else {
		close(j.extDone)
	}
	go j.writer()
	return j, nil
}

// Damage lists the damaged stretches OpenJournal found, in file order.
func (j *Journal) Damage() []JournalDamage { return j.damage }

// Size is the bytes in the file appends go to now.
func (j *Journal) Size() int64 { return j.size.Load() }

// Rotate seals the current file and makes the writer append to a new file
// at path (which must not exist), created and made durable in its
// directory before any record goes there. Every record is written whole to
// one file; records queued before Rotate may land in either.
func (j *Journal) Rotate(ctx context.Context, path string) error {
	r := rotReq{path: path, done: make(chan error, 1)}
	select {
	case j.rot <- r:
	case <-j.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.done
}

// switchTo is Rotate's work, in the writer between two commits (each of
// which flushed what it wrote; notes may still want an fsync).
func (j *Journal) switchTo(w *bufio.Writer, path string) error {
	if err := j.stickyErr(); err != nil {
		return err
	}
	if j.prealloc > 0 {
		// A sealed file holds its records only: its size is theirs. No
		// more zeros go to it (alloc past any target stops the extender).
		j.allocMu.Lock()
		j.alloc = math.MaxInt64
		err := j.f.Truncate(j.size.Load())
		j.allocMu.Unlock()
		if err != nil {
			return fmt.Errorf("seal journal segment: %w", err)
		}
		j.unsynced = true
	}
	if j.unsynced {
		// Notes in the file being sealed: a sealed file is durable whole.
		if err := j.f.Sync(); err != nil {
			err = errors.Join(ErrUnavailable, fmt.Errorf("journal write: %w", err))
			j.errMu.Lock()
			j.err = err
			j.errMu.Unlock()
			return err
		}
		j.unsynced = false
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("new journal segment: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	j.allocMu.Lock()
	old := j.f
	j.f, j.path = f, path
	w.Reset(f)
	j.size.Store(0)
	j.alloc = 0
	j.allocMu.Unlock()
	j.wantRoom()
	if err := old.Close(); err != nil {
		return fmt.Errorf("close sealed journal segment: %w", err)
	}
	return nil
}

// syncDir makes the entries of dir (a created, renamed or removed file)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir for fsync: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// readRecords replays the intact records of f and returns the end of the
// last one and the damaged stretches. After damage it looks for the next
// intact record byte by byte: a record's JSON payload holds no 0x00 byte, so
// no header can be found inside one.
func readRecords(f *os.File, replay func([]byte) error) (good int64, damage []JournalDamage, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, nil, fmt.Errorf("stat journal: %w", err)
	}
	size, err := dataEnd(f, st.Size()) // journal_prealloc.go: zeros after it are room
	if err != nil {
		return 0, nil, err
	}
	r := bufio.NewReaderSize(f, 8+maxRecord)
	var bad *JournalDamage
	for off := int64(0); off < size; {
		rec, why := peekRecord(r, size-off)
		if why == "" && replay != nil {
			if rerr := replay(bytes.Clone(rec)); errors.Is(rerr, ErrCorruptRecord) {
				why = rerr.Error()
			} else if rerr != nil {
				return 0, nil, fmt.Errorf("replay journal record at %d: %w", off, rerr)
			}
		}
		step := int64(1) // resynchronise byte by byte
		if rec != nil {
			step = int64(8 + len(rec)) // an intact record, even undecodable, is skipped whole
		}
		if _, err := r.Discard(int(step)); err != nil {
			return 0, nil, fmt.Errorf("read journal at %d: %w", off, err)
		}
		if why != "" {
			if bad == nil {
				damage = append(damage, JournalDamage{Offset: off, Reason: why})
				bad = &damage[len(damage)-1]
			}
			bad.Len += step
		} else {
			bad = nil
			good = off + step
		}
		off += step
	}
	if bad != nil {
		bad.Tail = true
	}
	return good, damage, nil
}

// peekRecord looks at the record at r's position, left bytes before the end
// of the file, without consuming it: it returns its payload, or why there is
// none there.
func peekRecord(r *bufio.Reader, left int64) (rec []byte, why string) {
	if left < 8 {
		return nil, fmt.Sprintf("record header cut short (%d of 8 bytes)", left)
	}
	hdr, err := r.Peek(8)
	if err != nil {
		return nil, "read: " + err.Error()
	}
	n := binary.LittleEndian.Uint32(hdr[:4])
	if n == 0 || n > maxRecord {
		return nil, fmt.Sprintf("record length %d out of range", n)
	}
	if int64(n) > left-8 {
		return nil, fmt.Sprintf("record of %d bytes cut short at %d", n, left-8)
	}
	buf, err := r.Peek(8 + int(n))
	if err != nil {
		return nil, "read: " + err.Error()
	}
	if crc32.Checksum(buf[8:], crcTable) != binary.LittleEndian.Uint32(buf[4:8]) {
		return nil, "record checksum mismatch"
	}
	return buf[8:], ""
}

// cutTail copies the damaged tail d to a side file next to path, then cuts
// it off f, so that appends go on after the last intact record.
func cutTail(f *os.File, path string, good int64, d *JournalDamage) error {
	side := fmt.Sprintf("%s.damaged-%d", path, time.Now().UnixNano())
	if err := saveTail(f, side, d.Offset, d.Len); err == nil {
		d.SavedTo = side
	} else {
		d.Reason += "; not saved: " + err.Error()
	}
	if err := f.Truncate(good); err != nil {
		return fmt.Errorf("truncate journal tail: %w", err)
	}
	return nil
}

func saveTail(f *os.File, side string, off, n int64) error {
	out, err := os.OpenFile(side, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(f, off, n))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// Append queues rec and waits until an fsync covers it.
func (j *Journal) Append(ctx context.Context, rec []byte) error {
	w, err := j.Enqueue(rec)
	if err != nil {
		return err
	}
	return w.Wait(ctx)
}

// Waiter is released when the fsync covering its record is done.
type Waiter struct{ r *jreq }

// Wait blocks until the record is durable, the journal fails, or ctx ends.
// When ctx ends first the record may still become durable.
func (w Waiter) Wait(ctx context.Context) error {
	select {
	case err := <-w.r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enqueue queues rec in order and returns a Waiter for its fsync. Records
// enqueued by one goroutine are written in the order enqueued.
func (j *Journal) Enqueue(rec []byte) (Waiter, error) {
	r := &jreq{data: rec, done: make(chan error, 1)}
	if err := j.queue(r); err != nil {
		return Waiter{}, err
	}
	return Waiter{r}, nil
}

// Note queues rec in order, like Enqueue, but asks for no fsync of its own:
// it is written with the next commit and made durable by the next fsync
// that a waited-for record, a rotation or Close asks for. For records whose
// loss in a power cut is harmless.
func (j *Journal) Note(rec []byte) error { return j.queue(&jreq{data: rec}) }

func (j *Journal) queue(r *jreq) error {
	if len(r.data) == 0 || len(r.data) > maxRecord {
		return fmt.Errorf("journal record of %d bytes: %w", len(r.data), ErrInvalid)
	}
	if r.data[len(r.data)-1] == 0 {
		// It would read as preallocated room after the last record.
		return fmt.Errorf("journal record ending in a zero byte: %w", ErrInvalid)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	if err := j.stickyErr(); err != nil {
		return err
	}
	j.reqs <- r
	return nil
}

// Close flushes queued records, stops the writer and closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	<-j.stopped
	<-j.extDone
	return j.f.Close()
}

func (j *Journal) writer() {
	defer close(j.stopped)
	w := bufio.NewWriterSize(j.f, 1<<16)
	batch := make([]*jreq, 0, 64)
	var hdr [8]byte
	for {
		batch = batch[:0]
		select {
		case r := <-j.reqs:
			batch = append(batch, r)
		case rr := <-j.rot:
			rr.done <- j.switchTo(w, rr.path)
			continue
		case <-j.stop:
			// Enqueue refuses new records once closed; drain what is queued.
			for {
				select {
				case r := <-j.reqs:
					batch = append(batch, r)
					continue
				default:
				}
				break
			}
			if len(batch) > 0 || j.unsynced {
				j.commit(w, batch, hdr[:], true)
			}
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-j.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		j.commit(w, batch, hdr[:], false)
	}
}

// commit writes batch and, when a record in it is waited for (or force),
// fsyncs the file; a batch of notes only is written without one.
func (j *Journal) commit(w *bufio.Writer, batch []*jreq, hdr []byte, force bool) {
	err := j.stickyErr()
	if err == nil {
		var n int64
		j.allocMu.Lock() // no zeros go where these records go
		for _, r := range batch {
			n += int64(8 + len(r.data))
			binary.LittleEndian.PutUint32(hdr[:4], uint32(len(r.data)))
			binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(r.data, crcTable))
			if _, err = w.Write(hdr); err != nil {
				break
			}
			if _, err = w.Write(r.data); err != nil {
				break
			}
		}
		if err == nil {
			err = w.Flush()
		}
		j.size.Add(n)
		low := j.prealloc > 0 && j.alloc-j.size.Load() < j.prealloc/2
		j.allocMu.Unlock()
		if low {
			j.wantRoom()
		}
		waited := force
		for _, r := range batch {
			waited = waited || r.done != nil
		}
		if err == nil && !waited {
			j.unsynced = true
		} else if err == nil {
			start := time.Now()
			if j.prealloc > 0 {
				err = datasync(j.f) // journal_sync_*.go
			} else {
				err = j.f.Sync()
			}
			j.unsynced = false
			if j.observe != nil {
				j.observe(len(batch), time.Since(start))
			}
		}
		if err != nil {
			err = errors.Join(ErrUnavailable, fmt.Errorf("journal write: %w", err))
			j.errMu.Lock()
			j.err = err
			j.errMu.Unlock()
		}
	}
	for _, r := range batch {
		if r.done != nil {
			r.done <- err
		}
	}
}

func (j *Journal) stickyErr() error {
	j.errMu.Lock()
	defer j.errMu.Unlock()
	return j.err
}
