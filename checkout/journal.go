package checkout

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Journal is an append-only write-ahead log with group commit: one writer
// goroutine takes every record queued since its last fsync, writes them, calls
// fsync once, and then releases each waiter whose record that fsync covered.
//
// A record is framed as length (uint32 LE), CRC-32C (uint32 LE), payload. A torn
// tail left by a crash is cut off when the journal is opened.
type Journal struct {
	path    string
	f       *os.File
	reqs    chan *jreq
	stop    chan struct{}
	stopped chan struct{}
	observe func(batch int, fsync time.Duration)

	mu     sync.Mutex // guards closed and orders enqueues
	closed bool

	errMu sync.Mutex
	err   error // sticky write error
}

type jreq struct {
	data []byte
	done chan error
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maxRecord bounds one journal record.
const maxRecord = 1 << 20

// maxBatch bounds the records written under one fsync.
const maxBatch = 4096

// OpenJournal opens (creating it and its directory if needed) the journal at
// path, calls replay for every intact record in order, truncates a torn tail,
// and starts the writer. observe, if not nil, is told each batch's size and
// fsync duration. Close stops the writer.
func OpenJournal(path string, replay func(rec []byte) error, observe func(batch int, fsync time.Duration)) (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("journal dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	good, err := readRecords(f, replay)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate journal tail: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek journal: %w", err)
	}
	j := &Journal{
		path:    path,
		f:       f,
		reqs:    make(chan *jreq, maxBatch),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		observe: observe,
	}
	go j.writer()
	return j, nil
}

func readRecords(f *os.File, replay func([]byte) error) (int64, error) {
	r := bufio.NewReaderSize(f, 1<<16)
	var off int64
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return off, nil // clean end or torn header
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if n == 0 || n > maxRecord {
			return off, nil
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return off, nil
		}
		if crc32.Checksum(buf, crcTable) != sum {
			return off, nil
		}
		if replay != nil {
			if err := replay(buf); err != nil {
				return 0, fmt.Errorf("replay journal record at %d: %w", off, err)
			}
		}
		off += 8 + int64(n)
	}
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
	if len(rec) == 0 || len(rec) > maxRecord {
		return Waiter{}, fmt.Errorf("journal record of %d bytes: %w", len(rec), ErrInvalid)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return Waiter{}, ErrClosed
	}
	if err := j.stickyErr(); err != nil {
		return Waiter{}, err
	}
	r := &jreq{data: rec, done: make(chan error, 1)}
	j.reqs <- r
	return Waiter{r}, nil
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
			if len(batch) > 0 {
				j.commit(w, batch, hdr[:])
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
		j.commit(w, batch, hdr[:])
	}
}

func (j *Journal) commit(w *bufio.Writer, batch []*jreq, hdr []byte) {
	err := j.stickyErr()
	if err == nil {
		for _, r := range batch {
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
		if err == nil {
			start := time.Now()
			err = j.f.Sync()
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
		r.done <- err
	}
}

func (j *Journal) stickyErr() error {
	j.errMu.Lock()
	defer j.errMu.Unlock()
	return j.err
}
