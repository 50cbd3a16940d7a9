//go:build !race

package harness

// RaceEnabled reports whether this program was built with -race.
const RaceEnabled = false
