//go:build race

package checkout

// raceEnabled: the race detector slows every order about tenfold; long
// tests sell fewer.
const raceEnabled = true
