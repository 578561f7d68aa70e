//go:build !race

package searchsim

const simCIPeers = 50

const latencyAsserted = true

const realCIPeers, realCIFiles = 16, 12
