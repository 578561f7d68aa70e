//go:build !race

package ledger

// raceEnabled scales load tests down under the race detector (5-10x slower).
const raceEnabled = false
