// Command peerpath-bench measures peerpath on this machine and prints each
// figure beside its limit (raw TCP, BLAKE3, native code, IPFS's kubo).
//
//	peerpath-bench idle [--bin PATH] [--peers 4] [--wait 30s]
//	peerpath-bench transfer [--bin PATH] [--size 1073741824]
//	peerpath-bench ledger [--n 20000] [--clients 8,64,128,256]
//	peerpath-bench search [--sizes 100,300,1000]
//	peerpath-bench msg [--nodes 100 --online 1000 --offline 10000 --group 100]
//	peerpath-bench compute
//	peerpath-bench service [--size 1073741824] [--conns 100] [--trips 200]
//	peerpath-bench store [--size 268435456] [--k 10] [--n 16]
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/internal/compute/sandbox"
)

func main() {
	sandbox.ServeChild() // compute's isolated runner re-runs this program
	root := &cobra.Command{
		Use:           "peerpath-bench",
		Short:         "Benchmarks of peerpath that print figures beside their limits",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(idleCmd(), transferCmd(), ledgerCmd(), searchCmd(), computeCmd(), storeCmd(), serviceCmd(), msgCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "peerpath-bench:", err)
		os.Exit(1)
	}
}
