//go:build !race

package checkout

const raceEnabled = false
