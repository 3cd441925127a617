package checkout

import (
	"os"

	"golang.org/x/sys/unix"
)

// Journal syncs on Linux: fdatasync, and writing back a range early.

// datasync makes f's data durable, and the metadata needed to read it (its
// size), not its times.
func datasync(f *os.File) error {
	c, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		for {
			if serr = unix.Fdatasync(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

// writeBack writes f's bytes [off, off+n) to the disk now and waits for it,
// so that a later fdatasync does not have to (no durability promised).
func writeBack(f *os.File, off, n int64) {
	c, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = c.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
	})
}
