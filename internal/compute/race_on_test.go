//go:build race

package compute

// raceEnabled scales the heaviest tests down under the race detector.
const raceEnabled = true
