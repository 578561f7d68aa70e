package main

import (
	"context"
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

func policyCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Show the content policy: the denylists this node refuses to store, serve or download content by",
		Long: `The content policy is a set of denylists in the compact denylist format
IPFS gateways use (IPIP-383). Content named on them is refused wherever this
node would serve it (other peers get "refused by the serving peer's content
policy"), downloaded with get (refused before anything is fetched), and in
search results (dropped). Rules that name no content id (IPNS names, paths
below a CID) are counted as ignored and explained.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).Policy, printContentPolicy)
		},
	}
	c.AddCommand(policyAddCmd(g), policyRemoveCmd(g))
	return c
}

func printContentPolicy(w io.Writer, p api.Policy) error {
	if len(p.Lists) == 0 {
		fmt.Fprintln(w, "no denylist loaded (peerpath policy add FILE|URL)")
		return nil
	}
	fmt.Fprintf(w, "%d lists: %d deny rules, %d exceptions\n", len(p.Lists), p.Deny, p.Allow)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSOURCE\tNAME\tDENY\tALLOW\tIGNORED\tADDED")
	for _, l := range p.Lists {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", l.ID, l.Source, l.Name, l.Deny, l.Allow, l.Ignored, l.Added.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

func printPolicyList(w io.Writer, l api.PolicyList) error {
	name := l.Source
	if l.Name != "" {
		name = fmt.Sprintf("%q (%s)", l.Name, l.Source)
	}
	fmt.Fprintf(w, "loaded %s as %s: %d deny rules, %d exceptions, %d lines ignored\n", name, l.ID, l.Deny, l.Allow, l.Ignored)
	for _, m := range l.Warnings {
		fmt.Fprintln(w, "  warning: "+m)
	}
	if l.Ignored > len(l.Warnings) {
		fmt.Fprintf(w, "  (and %d more ignored lines)\n", l.Ignored-len(l.Warnings))
	}
	return nil
}

func policyAddCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "add FILE|URL",
		Short: "Load a denylist (compact denylist format) from a file, or fetch it once from an http(s) URL",
		Example: `  peerpath policy add badbits.deny
  peerpath policy add https://badbits.dwebops.pub/badbits.deny`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			src := args[0]
			if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
				return query(g, c, 3*time.Minute, func(cl *api.Client, ctx context.Context) (api.PolicyList, error) {
					return cl.PolicyAddURL(ctx, src)
				}, printPolicyList)
			}
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			return query(g, c, 3*time.Minute, func(cl *api.Client, ctx context.Context) (api.PolicyList, error) {
				return cl.PolicyAdd(ctx, filepath.Base(src), f)
			}, printPolicyList)
		},
	}
}

func policyRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Unload a denylist (its id as peerpath policy shows it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return query(g, c, 20*time.Second, func(cl *api.Client, ctx context.Context) (api.Policy, error) {
				return cl.PolicyRemove(ctx, args[0])
			}, printContentPolicy)
		},
	}
}
