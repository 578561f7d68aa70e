package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/internal/p2p"
)

func swarmKeyCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "swarm-key",
		Short: "Private network keys",
	}
	c.AddCommand(&cobra.Command{
		Use:   "new",
		Short: "Print a new pre-shared key for a private network (save it to a file, pass it with --swarm-key)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			key, err := p2p.NewSwarmKey()
			if err != nil {
				return err
			}
			fmt.Fprint(c.OutOrStdout(), string(key))
			return nil
		},
	})
	return c
}
