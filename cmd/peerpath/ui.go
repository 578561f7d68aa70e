package main

import (
	"fmt"
	"os/exec"
	"time"

	"github.com/spf13/cobra"
)

func uiCmd(g *globals) *cobra.Command {
	var printURL bool
	c := &cobra.Command{
		Use:   "ui",
		Short: "Open the web app in the browser (or print a one-time login URL)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := timeoutCtx(c, 10*time.Second)
			defer cancel()
			out, err := cl.UILogin(ctx)
			if err != nil {
				return clientErr(err)
			}
			if g.json {
				return printJSON(c.OutOrStdout(), out)
			}
			if printURL {
				fmt.Fprintln(c.OutOrStdout(), out.URL)
				return nil
			}
			if err := exec.Command("xdg-open", out.URL).Start(); err != nil {
				fmt.Fprintf(c.OutOrStdout(), "could not open a browser (%v); open this one-time URL:\n%s\n", err, out.URL)
				return nil
			}
			fmt.Fprintln(c.OutOrStdout(), "opened the web app in your browser")
			return nil
		},
	}
	c.Flags().BoolVar(&printURL, "print-url", false, "print the one-time login URL instead of opening a browser")
	return c
}
