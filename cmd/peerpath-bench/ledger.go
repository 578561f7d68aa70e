package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/internal/ledger/ledgerbench"
)

func ledgerCmd() *cobra.Command {
	var (
		n       int
		clients string
	)
	c := &cobra.Command{
		Use:   "ledger",
		Short: "Transfers per second and commit latency of a 3-voter ledger on loopback",
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			fmt.Printf("ledger: 3 voters on loopback, %d signed transfers per run\n", n)
			for _, s := range strings.Split(clients, ",") {
				k, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || k <= 0 {
					return fmt.Errorf("bad --clients %q", clients)
				}
				r, err := ledgerbench.BenchClients(ctx, n, k)
				if err != nil {
					return err
				}
				fmt.Printf("  %4d clients: %6.0f transfers/s (goal >= 5000)   p50 %6.1f ms   p99 %6.1f ms (goal <= 50)   failures %d\n",
					k, r.TPS, float64(r.P50.Microseconds())/1000, float64(r.P99.Microseconds())/1000, r.Failures)
			}
			return nil
		},
	}
	c.Flags().IntVar(&n, "n", 20000, "transfers per run")
	c.Flags().StringVar(&clients, "clients", "8,64,128,256", "concurrent clients, one run each")
	return c
}
