//go:build !race

package whep

const raceEnabled = false
