//go:build race

package searchsim

// simCIPeers is smaller under the race detector, which slows everything
// several times.
const simCIPeers = 20

// latencyAsserted is false under the race detector: it slows every step
// several times, so latencies say nothing about the design. scripts/test.sh
// runs TestSimulateCI again without -race, where they are asserted.
const latencyAsserted = false

// realCIPeers and realCIFiles size TestSimulateRealCI under the race
// detector.
const realCIPeers, realCIFiles = 8, 6
