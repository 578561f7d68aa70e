//go:build linkall

package main

import (
	"context"
	"os"

	"github.com/peerpath/peerpath/internal/node"
)

// With -tags linkall the whole daemon is linked (a call the linker cannot
// drop) but never run.
func init() {
	if len(os.Args) > 1<<20 {
		n, _ := node.New(context.Background(), node.Options{})
		_ = n.Serve(context.Background())
	}
}
