//go:build race

package srtpdirect

// raceEnabled: the race detector makes sync.Pool drop items, so
// allocation counts mean nothing in race builds.
const raceEnabled = true
