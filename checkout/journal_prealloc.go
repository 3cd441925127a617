package checkout

import (
	"fmt"
	"os"
)

// Preallocation keeps a journal's file zeroed ahead of its appends, so that
// a commit overwrites blocks the file already has and its fdatasync writes
// no metadata (see Journal).

// zeroPiece is the most zeros written at once: the writer waits for at most
// one piece, and a commit's fdatasync carries at most one piece not yet
// written back.
const zeroPiece = 64 << 10

// wantRoom asks the extender for more zeroed room, without waiting.
func (j *Journal) wantRoom() {
	if j.prealloc == 0 {
		return
	}
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// extender is the journal's goroutine that makes room when asked; it stops
// when the journal closes.
func (j *Journal) extender() {
	defer close(j.extDone)
	for {
		select {
		case <-j.stop:
			return
		case <-j.kick:
		}
		j.extend()
	}
}

// extend writes zeros from the end of the records (or of the zeros already
// there) up to prealloc bytes past the records, a piece at a time, each
// written back at once, then makes the new size durable. It gives up
// quietly if the journal rotates meanwhile or the disk fails: appends go on
// past the zeros (each then with a metadata update, as without
// preallocation), and a failing disk is reported by the commits.
func (j *Journal) extend() {
	zero := make([]byte, zeroPiece)
	j.allocMu.Lock()
	f := j.f
	target := j.size.Load() + j.prealloc
	j.allocMu.Unlock()
	for {
		j.allocMu.Lock()
		if j.f != f {
			j.allocMu.Unlock()
			return
		}
		off := max(j.alloc, j.size.Load())
		if off >= target {
			j.allocMu.Unlock()
			break
		}
		n := min(int64(len(zero)), target-off)
		_, err := f.WriteAt(zero[:n], off)
		if err == nil {
			j.alloc = off + n
		}
		j.allocMu.Unlock()
		if err != nil {
			return
		}
		writeBack(f, off, n) // journal_sync_*.go
	}
	_ = datasync(f)
}

// dataEnd is the end of the last nonzero byte in f's first size bytes: what
// follows is preallocated room, no record (a record never ends in 0x00).
func dataEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, zeroPiece)
	for end := size; end > 0; {
		n := min(int64(len(buf)), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, fmt.Errorf("read journal end: %w", err)
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] != 0 {
				return end - n + i + 1, nil
			}
		}
		end -= n
	}
	return 0, nil
}
