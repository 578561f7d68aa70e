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

func shareCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "share PATH...",
		Short: "Share files or folders in place (nothing is copied) and print their content ids",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			for _, p := range args {
				abs, err := filepath.Abs(p)
				if err != nil {
					return err
				}
				if _, err := os.Stat(abs); err != nil {
					return err
				}
				ctx, cancel := timeoutCtx(c, 24*time.Hour)
				s, err := cl.AddShare(ctx, abs)
				cancel()
				if err != nil {
					return clientErr(err)
				}
				if g.json {
					if err := printJSON(c.OutOrStdout(), map[string]any{"cid": s.CID, "name": s.Name, "size": s.Size, "files": s.Files}); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(c.OutOrStdout(), "%s  %s  (%s, %d files)\n", s.CID, s.Name, humanBytes(float64(s.Size)), s.Files)
			}
			return nil
		},
	}
}

func sharesCmd(g *globals) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "shares",
		Short: "List what this node shares",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			list := (*api.Client).Shares
			if all {
				list = (*api.Client).SharesAll
			}
			return query(g, c, 30*time.Second, list, printShares)
		},
	}
	c.Flags().BoolVar(&all, "all", false, "also list the node's internal files (compute blobs, market listings and goods)")
	return c
}

func printShares(w io.Writer, l []api.Share) error {
	if len(l) == 0 {
		fmt.Fprintln(w, "nothing shared; share a folder with: peerpath share PATH")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CID\tSIZE\tFILES\tPATH")
	for _, s := range l {
		p := s.Path
		if s.Downloaded {
			p += " (downloaded)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.CID, humanBytes(float64(s.Size)), s.Files, p)
	}
	return tw.Flush()
}

func unshareCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unshare PATH",
		Short: "Stop sharing a file or folder",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := timeoutCtx(c, 30*time.Second)
			defer cancel()
			if err := cl.RemoveShare(ctx, abs); err != nil {
				return clientErr(err)
			}
			if g.json {
				return printJSON(c.OutOrStdout(), map[string]string{"removed": abs})
			}
			fmt.Fprintln(c.OutOrStdout(), "no longer shared:", abs)
			return nil
		},
	}
}

func getCmd(g *globals) *cobra.Command {
	var (
		out     string
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "get CID|URL",
		Short: "Download a file or folder from every peer that has it (resumes where it stopped), or a published document by its URL",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if strings.HasPrefix(strings.TrimSpace(args[0]), docURLPrefix) {
				return getDocument(c, g, args[0], out)
			}
			req := api.GetRequest{CID: args[0]}
			if out != "" {
				abs, err := filepath.Abs(out)
				if err != nil {
					return err
				}
				req.Output = abs
			} else {
				// Saved under its file or folder name (as a search showed
				// it) in the current folder; the daemon picks the name.
				wd, err := os.Getwd()
				if err != nil {
					return err
				}
				req.Dir = wd
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			// The daemon bounds the time without progress; this bounds the
			// request itself generously.
			ctx, cancel := context.WithCancel(c.Context())
			defer cancel()
			var bar *getBar
			progress := func(ev api.GetEvent) {}
			if !g.json && isTerminal(os.Stderr) {
				bar = &getBar{w: os.Stderr, width: terminalWidth()}
				progress = func(ev api.GetEvent) {
					if ev.Type == "progress" {
						bar.update(ev.Done, ev.Total, ev.Rate, ev.Sources, ev.Done == ev.Total)
					}
				}
			}
			if timeout > 0 {
				req.Timeout = timeout.String()
			}
			// The daemon sends the plan (file count and size) once every
			// folder manifest is checked, before it writes anything.
			events := func(ev api.GetEvent) {
				if ev.Type == "plan" && !g.json {
					fmt.Fprintf(c.ErrOrStderr(), "%s: %d files, %s\n", args[0], ev.Files, humanBytes(float64(ev.Total)))
				}
				progress(ev)
			}
			res, err := cl.Get(ctx, req, events)
			if bar != nil {
				bar.finish()
			}
			if err != nil {
				return clientErr(err)
			}
			if g.json {
				return printJSON(c.OutOrStdout(), res)
			}
			what := "file"
			if res.Dir {
				what = fmt.Sprintf("folder, %d files", res.Files)
			}
			secs := res.DurationMS / 1000
			rate := 0.0
			if secs > 0 {
				rate = float64(res.Fetched) / secs
			}
			from := plural(res.Peers, "peer", "peers")
			if res.Peers == 0 && res.Fetched == 0 && res.Resumed < res.Size {
				from = "this node's own shares" // a local copy (no peer needed)
			}
			fmt.Fprintf(c.OutOrStdout(), "%s (%s, %s) from %s in %.1fs, %s/s",
				res.Path, what, humanBytes(float64(res.Size)), from, secs, humanBytes(rate))
			if res.Resumed > 0 {
				fmt.Fprintf(c.OutOrStdout(), ", resumed with %s already here", humanBytes(float64(res.Resumed)))
			}
			fmt.Fprintln(c.OutOrStdout())
			return nil
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "where to write the file or folder (default: its name, as a search showed it, in the current folder; else its content id)")
	c.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long without progress (default 2m)")
	return c
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// outputPath is where a download named name goes: -o's value, or name in
// the current folder, made absolute for the daemon.
func outputPath(o, name string) (string, error) {
	if o == "" {
		o = name
	}
	return filepath.Abs(o)
}
