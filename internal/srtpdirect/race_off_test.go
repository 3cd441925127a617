//go:build !race

package srtpdirect

const raceEnabled = false
