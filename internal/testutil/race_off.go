//go:build !race

package testutil

// Race is true when the race detector is on: load tests scale down under
// it (5-10x slower).
const Race = false
