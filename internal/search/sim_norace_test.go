//go:build !race

package search

const simCIPeers = 50

const latencyAsserted = true
