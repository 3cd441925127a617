//go:build !linux

package redistest

// TmpfsDir is "" (the test's temporary directory) off Linux.
func TmpfsDir() string { return "" }
