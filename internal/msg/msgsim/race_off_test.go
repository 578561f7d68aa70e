//go:build !race

package msgsim

const (
	simNodes        = 20
	simMessages     = 60
	latencyAsserted = true
)
