//go:build race

package whep

// raceEnabled: the race detector makes sync.Pool drop items, so
// allocation counts mean nothing in race builds.
const raceEnabled = true
