package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

func limitsCmd(g *globals) *cobra.Command {
	var up, down uint64
	c := &cobra.Command{
		Use:   "limits [--max-upload SIZE] [--max-download SIZE]",
		Short: "Show or change the running node's bandwidth limits per second (0 = unlimited); changes are saved in config.toml",
		Example: `  peerpath limits
  peerpath limits --max-upload 2MiB       # 2 MiB/s over all peers
  peerpath limits --max-download 0        # unlimited`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var l api.Limits
			err := g.run(c, 20*time.Second, func(ctx context.Context, cl *api.Client) (err error) {
				var req api.LimitsRequest
				if c.Flags().Changed("max-upload") {
					v := int64(up)
					req.MaxUpload = &v
				}
				if c.Flags().Changed("max-download") {
					v := int64(down)
					req.MaxDownload = &v
				}
				if req == (api.LimitsRequest{}) {
					l, err = cl.Limits(ctx)
				} else {
					l, err = cl.SetLimits(ctx, req)
				}
				return err
			})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(c.OutOrStdout(), l)
			}
			_, err = fmt.Fprintf(c.OutOrStdout(), "upload %s, download %s\n", rateText(l.MaxUpload), rateText(l.MaxDownload))
			return err
		},
	}
	c.Flags().Var(&bytesFlag{&up}, "max-upload", "upload limit per second over all peers, e.g. 2MiB (0 = unlimited)")
	c.Flags().Var(&bytesFlag{&down}, "max-download", "download limit per second over all peers (0 = unlimited)")
	return c
}

// rateText prints a limit in bytes/s.
func rateText(v int64) string {
	if v == 0 {
		return "unlimited"
	}
	return humanBytes(float64(v)) + "/s"
}
