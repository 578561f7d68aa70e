//go:build race

package msgsim

// Under the race detector (which slows every step several times) the
// simulation runs small and its latencies are not asserted;
// scripts/test.sh runs TestSimulateCI again without -race, where they are.
const (
	simNodes        = 6
	simMessages     = 12
	latencyAsserted = false
)
