//go:build !race

package p2p

// raceEnabled reports whether the race detector is on; heavy tests scale
// down under it to stay within the time budget on two cores.
const raceEnabled = false
