package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

// marketCmd is "peerpath market": sell, find and buy digital goods.
func marketCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "market", Short: "Sell, find and buy digital goods for credits"}
	c.AddCommand(marketSellCmd(g), marketListingsCmd(g), marketWithdrawCmd(g), marketSponsorCmd(g),
		marketSearchCmd(g), marketBuyCmd(g), marketOrdersCmd(g), marketRateCmd(g), marketRefundCmd(g),
		marketSellerCmd(g), marketVerifyCmd(g))
	return c
}

// run calls fn with a client and a context bounded by d.
func (g *globals) run(c *cobra.Command, d time.Duration, fn func(context.Context, *api.Client) error) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	ctx, cancel := timeoutCtx(c, d)
	defer cancel()
	return clientErr(fn(ctx, cl))
}

func marketSellCmd(g *globals) *cobra.Command {
	var req api.MarketSellRequest
	c := &cobra.Command{
		Use:   "sell FILE --title T --price P",
		Short: "Encrypt FILE, share the ciphertext and publish a signed listing (the ledger's voters hold the key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if req.Title == "" || req.Price == "" {
				return errors.New("--title and --price are required")
			}
			var err error
			if req.Path, err = filepath.Abs(args[0]); err != nil {
				return err
			}
			if req.Preview != "" {
				if req.Preview, err = filepath.Abs(req.Preview); err != nil {
					return err
				}
			}
			return g.run(c, 5*time.Minute, func(ctx context.Context, cl *api.Client) error {
				res, err := cl.MarketSell(ctx, req)
				if err != nil {
					return err
				}
				if g.json {
					return printJSONCompact(c.OutOrStdout(), map[string]string{"id": res.ID, "cid": res.CID})
				}
				fmt.Fprintf(c.OutOrStdout(), "listed %q for %s credits\nlisting    %s\nciphertext %s (%d bytes)\n", req.Title, req.Price, res.ID, res.CID, res.Size)
				return nil
			})
		},
	}
	f := c.Flags()
	f.StringVar(&req.Title, "title", "", "title (its words are what buyers search for)")
	f.StringVar(&req.Price, "price", "", "price in credits, e.g. 2.5")
	f.StringVar(&req.Description, "description", "", "description")
	f.StringSliceVar(&req.Tags, "tags", nil, "tags, comma-separated")
	f.StringVar(&req.Preview, "preview", "", "a preview file, shared unencrypted")
	f.StringVar(&req.TTL, "ttl", "", "how long the listing sells (default 720h)")
	f.StringVar(&req.Sponsor, "sponsor", "", "credits paid to the operator to rank higher")
	return c
}

func marketListingsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "listings",
		Short: "Show your own listings",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).MarketListings, func(w io.Writer, ls []api.MarketListing) error {
				if len(ls) == 0 {
					fmt.Fprintln(w, "no listings")
					return nil
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tTITLE\tPRICE\tSIZE\tEXPIRES\tSTATE")
				for _, l := range ls {
					state := "selling"
					if l.Withdrawn {
						state = "withdrawn"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", l.ID, l.Title, l.Price, l.Size, time.Unix(0, l.Expiry).Format(time.DateOnly), state)
				}
				return tw.Flush()
			})
		},
	}
}

func marketWithdrawCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "withdraw ID",
		Short: "Take one of your listings down",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return g.run(c, 40*time.Second, func(ctx context.Context, cl *api.Client) error {
				if err := cl.MarketWithdraw(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "withdrew %s\n", args[0])
				return nil
			})
		},
	}
}

func marketSponsorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "sponsor ID AMOUNT",
		Short: "Pay AMOUNT credits to the operator to rank a listing of yours higher",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return g.run(c, 40*time.Second, func(ctx context.Context, cl *api.Client) error {
				if err := cl.MarketSponsor(ctx, args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "sponsored %s with %s credits\n", args[0], args[1])
				return nil
			})
		},
	}
}

func marketSearchCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "search [QUERY]",
		Short: "Find listings across the network (verified; ranked by relevance and seller rating); no query lists them all",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return g.run(c, timeout+2*time.Minute, func(ctx context.Context, cl *api.Client) error {
				res, err := cl.MarketSearch(ctx, strings.Join(args, " "), timeout.String())
				if err != nil {
					return err
				}
				w := c.OutOrStdout()
				if !g.json {
					g.learnNames(ctx, cl, res)
				}
				if res.Dropped > 0 {
					// On stderr, so --json output stays one result per line.
					defer fmt.Fprintf(c.ErrOrStderr(), "%d listing(s) dropped: bad signature, expired or not matching the ledger\n", res.Dropped)
				}
				if g.json {
					for _, r := range res.Results {
						line := struct {
							ID        string      `json:"id"`
							Title     string      `json:"title"`
							Price     json.Number `json:"price"`
							Seller    string      `json:"seller"`
							CID       string      `json:"cid"`
							Rating    float64     `json:"rating"`
							Sponsored bool        `json:"sponsored"`
						}{r.ID, r.Title, r.Price, r.Seller, r.CID, r.Rating, r.Sponsored}
						if err := printJSONCompact(w, line); err != nil {
							return err
						}
					}
					return nil
				}
				if len(res.Results) == 0 {
					fmt.Fprintln(w, "no listings found")
				} else {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tTITLE\tPRICE\tSELLER\tRATING\t")
					for _, r := range res.Results {
						rating := "unrated"
						if r.Ratings > 0 {
							rating = fmt.Sprintf("%.1f (%d)", r.Rating, r.Ratings)
						}
						sp := ""
						if r.Sponsored {
							sp = "sponsored"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Title, r.Price, g.name(r.Seller), rating, sp)
					}
					tw.Flush()
				}
				return nil
			})
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to search the network")
	return c
}

func marketBuyCmd(g *globals) *cobra.Command {
	var (
		out     string
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "buy LISTING_ID [-o PATH]",
		Short: "Pay into escrow, receive the key from the ledger's voters, fetch and decrypt the goods",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			abs, err := outputPath(out, args[0])
			if err != nil {
				return err
			}
			return g.run(c, timeout+30*time.Second, func(ctx context.Context, cl *api.Client) error {
				res, err := cl.MarketBuy(ctx, api.MarketBuyRequest{Listing: args[0], Output: abs, Timeout: timeout.String()})
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(c.OutOrStdout(), res)
				}
				if res.AlreadyBought {
					fmt.Fprintf(c.OutOrStdout(), "you already bought %s (order %s): nothing was paid now\nthe goods are at %s (%d bytes)\n",
						cmpOr(res.Title, res.Listing), res.Order, res.Path, res.Size)
					return nil
				}
				fmt.Fprintf(c.OutOrStdout(), "bought %s for %s credits (fee %s), order %s\nwrote %s (%d bytes)\n",
					cmpOr(res.Title, res.Listing), res.Price, res.Fee, res.Order, res.Path, res.Size)
				return nil
			})
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "where to write the goods (default: the listing ID)")
	c.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the key")
	return c
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func marketOrdersCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "orders",
		Short: "Show your purchases and sales with their state",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).MarketOrders, func(w io.Writer, ords []api.MarketOrder) error {
				if len(ords) == 0 {
					fmt.Fprintln(w, "no orders")
					return nil
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ORDER\tROLE\tTITLE\tPRICE\tSTATE\tWITH")
				for _, o := range ords {
					with := o.Seller
					if o.Role == "sell" {
						with = o.Buyer
					}
					state := o.State
					if o.Reason != "" {
						state += " (" + o.Reason + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Role, cmpOr(o.Title, o.Listing), o.Price, state, g.name(with))
				}
				return tw.Flush()
			})
		},
	}
}

func marketRateCmd(g *globals) *cobra.Command {
	var (
		stars   int
		comment string
	)
	c := &cobra.Command{
		Use:   "rate ORDER --stars N [--comment C]",
		Short: "Rate the seller of one of your completed purchases (1-5 stars, once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return g.run(c, 40*time.Second, func(ctx context.Context, cl *api.Client) error {
				if err := cl.MarketRate(ctx, args[0], api.MarketRateRequest{Stars: stars, Comment: comment}); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "rated order %s: %d stars\n", args[0], stars)
				return nil
			})
		},
	}
	c.Flags().IntVar(&stars, "stars", 0, "1 to 5")
	c.Flags().StringVar(&comment, "comment", "", "a comment")
	return c
}

func marketRefundCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "refund ORDER",
		Short: "Take back the escrow of a purchase no voter settled before its deadline",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return g.run(c, 40*time.Second, func(ctx context.Context, cl *api.Client) error {
				if err := cl.MarketRefund(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "refunded order %s\n", args[0])
				return nil
			})
		},
	}
}

func marketSellerCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "seller PEERID",
		Short: "Show a seller's rating and ratings",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			get := func(cl *api.Client, ctx context.Context) (api.MarketSeller, error) {
				return cl.MarketSeller(ctx, args[0])
			}
			return query(g, c, 20*time.Second, get, func(w io.Writer, s api.MarketSeller) error {
				fmt.Fprintf(w, "seller  %s (%s)\nrating  %.2f from %d rating(s)\n", g.name(s.Seller), s.Seller, s.Rating, s.Count)
				for _, r := range s.Ratings {
					fmt.Fprintf(w, "  %d★  %s  (%s, order %s)\n", r.Stars, r.Comment, g.name(r.Buyer), r.Order)
				}
				return nil
			})
		},
	}
}

func marketVerifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "verify LISTING_FILE",
		Short: "Check a listing document: seller's signature, expiry and the ledger's record",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if !json.Valid(b) {
				return fmt.Errorf("%s is not a listing document (not JSON)", args[0])
			}
			return g.run(c, 30*time.Second, func(ctx context.Context, cl *api.Client) error {
				res, err := cl.MarketVerify(ctx, b)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(c.OutOrStdout(), res)
				}
				fmt.Fprintf(c.OutOrStdout(), "valid listing %s: %q by %s\n", res.ID, res.Title, res.Seller)
				return nil
			})
		},
	}
}
