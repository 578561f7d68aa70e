// Command primes is a peerpath compute job: unit i prints how many primes
// lie in [i*span, (i+1)*span). Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -o primes.wasm ./examples/primes
//
// See examples/README.md.
package main

import (
	"fmt"
	"os"

	"github.com/peerpath/peerpath/examples/primes/kernel"
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
