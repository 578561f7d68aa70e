//go:build race

package sandbox

// raceEnabled: the race detector's runtime maps large shadow memory, which
// the limits of limitChild would refuse, so a race-instrumented build (a
// test binary) leaves its children unlimited.
const raceEnabled = true
