//go:build race

package checkout

// raceEnabled: the race detector slows the edge about twentyfold; timing
// tests skip.
const raceEnabled = true
