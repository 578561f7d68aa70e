package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

func searchCmd(g *globals) *cobra.Command {
	var (
		timeout time.Duration
		limit   int
	)
	c := &cobra.Command{
		Use:   "search QUERY...",
		Short: `Search the whole network by name and tags, e.g. "beatles hey jude type:audio size>3MB"`,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context(), timeout+10*time.Second)
			defer cancel()
			out := c.OutOrStdout()
			seen := map[string]api.SearchResult{}
			// On a terminal, a status line counts results as they stream
			// in; the list is printed once, ranked, when every answer is in.
			status, clear := func() {}, func() {}
			if !g.json && isTerminal(os.Stderr) {
				status = func() { fmt.Fprintf(os.Stderr, "\rsearching… %s", plural(len(seen), "result", "results")) }
				clear = func() { fmt.Fprint(os.Stderr, "\r\033[K") }
				status()
			}
			err = cl.Search(ctx, strings.Join(args, " "), limit, timeout, func(r api.SearchResult) {
				if g.json {
					// One object a line, one line per content id, as results
					// stream in (later updates of a result add providers the
					// first line does not show).
					if _, ok := seen[r.CID]; !ok {
						printJSONCompact(out, r)
					}
					seen[r.CID] = r
					return
				}
				seen[r.CID] = r
				status()
			})
			clear()
			if err != nil {
				return clientErr(err)
			}
			if !g.json {
				if len(seen) == 0 {
					fmt.Fprintln(out, "no results")
					return nil
				}
				// Final ranking, once every answer is in.
				all := make([]api.SearchResult, 0, len(seen))
				for _, r := range seen {
					all = append(all, r)
				}
				sort.Slice(all, func(i, j int) bool { return all[i].Score > all[j].Score })
				fmt.Fprintf(out, "%s, best first:\n", plural(len(all), "result", "results"))
				for i, r := range all {
					fmt.Fprintf(out, "%3d. %s  (%s, %s, %s)\n     peerpath get %s\n", i+1, r.Name, humanBytes(float64(r.Size)), r.Type, plural(len(r.Providers), "peer", "peers"), r.CID)
				}
			}
			return nil
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for answers")
	c.Flags().IntVar(&limit, "limit", 50, "at most this many results")
	return c
}

func blockCmd(g *globals, block bool) *cobra.Command {
	use, short, method := "block NAME|PEERID", "Block a peer: its search answers and queries are ignored (a local blocklist)", "POST"
	if !block {
		use, short, method = "unblock NAME|PEERID", "Remove a peer from the local blocklist", "DELETE"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := timeoutCtx(c, 10*time.Second)
			defer cancel()
			var out any
			var word string
			if method == http.MethodDelete {
				r, err := cl.Unblock(ctx, args[0])
				if err != nil {
					return clientErr(err)
				}
				out, word = r, "unblocked "+r.Unblocked
			} else {
				r, err := cl.Block(ctx, args[0])
				if err != nil {
					return clientErr(err)
				}
				out, word = r, "blocked "+r.Blocked
			}
			if g.json {
				return printJSON(c.OutOrStdout(), out)
			}
			fmt.Fprintln(c.OutOrStdout(), word)
			return nil
		},
	}
}
