// Command seti is a peerpath compute job in the spirit of SETI@home: unit i
// searches a stretch of simulated radio samples for a narrow-band signal and
// prints the strongest frequency bin and its power-to-noise ratio. Build it
// with
//
//	GOOS=wasip1 GOARCH=wasm go build -o seti.wasm ./examples/seti
//
// See examples/README.md.
package main

import (
	"fmt"
	"os"

	"github.com/peerpath/peerpath/examples/seti/kernel"
)

func main() {
	out, err := kernel.Run(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		os.Exit(1)
	}
}
