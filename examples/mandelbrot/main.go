// Command mandelbrot is a peerpath compute job: unit i renders tile i (a
// band of rows) of a Mandelbrot image and writes it to stdout as a PNG. The
// package examples/mandelbrot/assemble joins the tiles. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -o mandelbrot.wasm ./examples/mandelbrot
//
// See examples/README.md.
package main

import (
	"fmt"
	"os"

	"github.com/peerpath/peerpath/examples/mandelbrot/kernel"
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
