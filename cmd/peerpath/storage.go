package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

func storageCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "storage",
		Short: "Show the storage this node offers other peers: used, offered, per-client usage, earnings",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).Storage, func(w io.Writer, s api.Storage) error { return printStorage(w, s, g.name) })
		},
	}
	c.AddCommand(storageOfferCmd(g), storageCheckCmd(g))
	return c
}

func printStorage(w io.Writer, s api.Storage, name func(string) string) error {
	if s.Offered == 0 {
		fmt.Fprintln(w, "offering no storage (peerpath storage offer SIZE)")
	} else {
		price := "free"
		if s.PricePerGiBMonth != "0" {
			price = string(s.PricePerGiBMonth) + " credits per GiB-month"
		}
		fmt.Fprintf(w, "offered %s, used %s in %d shares, %s, earned %s credits\n",
			humanBytes(float64(s.Offered)), humanBytes(float64(s.Used)), s.Shares, price, s.Earned)
	}
	fmt.Fprintf(w, "own data on other peers: %d objects, %d shares\n", s.OwnedObjects, s.OwnedShares)
	if len(s.Clients) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tSHARES\tBYTES\tPAID")
	for _, cl := range s.Clients {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", name(cl.Peer), cl.Shares, humanBytes(float64(cl.Bytes)), cl.Paid)
	}
	return tw.Flush()
}

func storageOfferCmd(g *globals) *cobra.Command {
	var price, perClient string
	c := &cobra.Command{
		Use:   "offer SIZE [--price-per-gib-month P] [--per-client SIZE]",
		Short: "Store up to SIZE of other peers' encrypted shares on this node (0 withdraws the offer)",
		Example: `  peerpath storage offer 50GiB
  peerpath storage offer 1TiB --price-per-gib-month 0.2`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			size, err := parseBytes(args[0])
			if err != nil {
				return err
			}
			req := api.StorageOfferRequest{Size: int64(size), PricePerGiBMonth: price}
			if perClient != "" {
				pc, err := parseBytes(perClient)
				if err != nil {
					return err
				}
				req.PerClient = int64(pc)
			}
			return query(g, c, 20*time.Second, func(cl *api.Client, ctx context.Context) (api.Storage, error) {
				return cl.StorageOffer(ctx, req)
			}, func(w io.Writer, s api.Storage) error { return printStorage(w, s, g.name) })
		},
	}
	c.Flags().StringVar(&price, "price-per-gib-month", "", "credits asked per GiB stored per 30 days (default free)")
	c.Flags().StringVar(&perClient, "per-client", "", "most one peer may store here (default half the offer)")
	return c
}

func storageCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Challenge the holders of this node's stored data now, and repair what fell to the threshold",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 30*time.Minute, (*api.Client).StorageCheck, func(w io.Writer, r api.StorageCheck) error {
				_, err := fmt.Fprintf(w, "%d objects checked: %d fully healthy, %d shares repaired, %d below n\n",
					r.Objects, r.Healthy, r.Repaired, r.Failing)
				if err == nil && r.Repaired > 0 {
					_, err = fmt.Fprintf(w, "repair traffic: %s fetched to rebuild, %s placed\n",
						humanBytes(float64(r.RepairIn)), humanBytes(float64(r.RepairOut)))
				}
				return err
			})
		},
	}
}
