package redistest

import "golang.org/x/sys/unix"

// TmpfsDir is a directory on tmpfs for Options.Dir (/dev/shm), or "" (the
// test's temporary directory) where /dev/shm is missing or not tmpfs.
func TmpfsDir() string {
	var fs unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &fs); err == nil && fs.Type == unix.TMPFS_MAGIC {
		return "/dev/shm"
	}
	return ""
}
