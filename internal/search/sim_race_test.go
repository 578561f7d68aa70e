//go:build race

package search

// simCIPeers is smaller under the race detector, which slows everything
// several times.
const simCIPeers = 20
