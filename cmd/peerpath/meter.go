package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

func meterCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "meter",
		Short: "Show what this node gave to and took from each peer: bytes, compute units, receipts, payments",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).Meter, func(w io.Writer, m api.Meter) error {
				billing := "off"
				if m.PricePerGiB != "0" {
					billing = string(m.PricePerGiB) + " credits/GiB"
				}
				fmt.Fprintf(w, "traffic billing: %s   receipts received: %d settled, %d pending, %d failed, %d without payment\n",
					billing, m.Receipts["settled"], m.Receipts["pending"], m.Receipts["failed"], m.Receipts["evidence"])
				if len(m.Peers) == 0 && len(m.Services) == 0 {
					_, err := fmt.Fprintln(w, "no traffic yet")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "PEER\tUP\tDOWN\tUNITS RUN\tUNITS USED\tPAID IN\tBILLED OUT\tCLASS")
				for _, u := range m.Peers {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", g.name(u.Peer),
						humanBytes(float64(u.Uploaded)), humanBytes(float64(u.Downloaded)),
						u.UnitsRun, u.UnitsUsed, u.PaidIn, u.BilledOut, u.Class)
				}
				if len(m.Services) > 0 {
					fmt.Fprintln(tw, "\nSERVICE\tPEER\tROLE\tIN\tOUT")
					for _, s := range m.Services {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Service, g.name(s.Peer), s.Role,
							humanBytes(float64(s.BytesIn)), humanBytes(float64(s.BytesOut)))
					}
				}
				return tw.Flush()
			})
		},
	}
}
