package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/spf13/cobra"
)

func uiCmd(g *globals) *cobra.Command {
	var printURL bool
	c := &cobra.Command{
		Use:   "ui",
		Short: "Open the web app in the browser (and print its one-time login link)",
		Long: `Open the web app in the browser: on Linux with xdg-open (or $BROWSER),
on macOS with open, on Windows with the default browser. The one-time login
link is printed too, since a browser may not have opened (no display, an SSH
session): open it on this machine within 10 minutes. --print-url prints the
link only.`,
		Args: cobra.NoArgs,
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
			w := c.OutOrStdout()
			name, args, why := browserCommand(runtime.GOOS, os.Getenv, out.URL)
			if name == "" {
				fmt.Fprintf(w, "%s. Open this one-time login link in a browser on this machine (it works once, within 10 minutes):\n%s\n", why, out.URL)
				return nil
			}
			if err := runOpener(name, args); err != nil {
				fmt.Fprintf(w, "Could not open a browser (%s: %v). Open this one-time login link in a browser on this machine (it works once, within 10 minutes):\n%s\n", name, err, out.URL)
				return nil
			}
			// The opener succeeded, which does not prove a window appeared.
			fmt.Fprintf(w, "Opening the web app in your browser. If it did not open, open this one-time login link (it works once, within 10 minutes):\n%s\n", out.URL)
			return nil
		},
	}
	c.Flags().BoolVar(&printURL, "print-url", false, "print the one-time login URL instead of opening a browser")
	return c
}

// browserCommand is the command that opens url in the default browser on
// goos, or "" and the reason there is none (no display on Linux).
func browserCommand(goos string, getenv func(string) string, url string) (name string, args []string, why string) {
	switch goos {
	case "darwin":
		return "open", []string{url}, ""
	case "windows":
		return "rundll32", []string{"url.dll,FileProtocolHandler", url}, ""
	}
	if b := getenv("BROWSER"); b != "" {
		return b, []string{url}, ""
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return "", nil, "No display found (DISPLAY and WAYLAND_DISPLAY are unset), so no browser was opened"
	}
	return "xdg-open", []string{url}, ""
}

// runOpener runs an opener and waits up to 5 s for its verdict: openers
// usually hand the URL to the browser and exit, and a failure (no browser
// configured) shows as a non-zero exit. One still running after 5 s is
// taken as a browser in the foreground, and left to run.
func runOpener(name string, args []string) error {
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		return nil
	}
}
