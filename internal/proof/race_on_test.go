//go:build race

package proof

// raceEnabled: the race detector adds allocations of its own, so
// allocation counts mean nothing in race builds.
const raceEnabled = true
