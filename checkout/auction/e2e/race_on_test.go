//go:build race

package e2e

// raceEnabled: the edges are this binary, so the race detector slows them
// too; the latency goals are then reported, not asserted.
const raceEnabled = true
