package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
	"github.com/peerpath/peerpath/internal/config"
)

// client returns an API client of the daemon running on the home, found
// through HOME/api and HOME/api-token.
func (g *globals) client() (*api.Client, error) {
	home, err := config.ResolveHome(g.home)
	if err != nil {
		return nil, err
	}
	base, err := os.ReadFile(home.Path(config.FileAPI))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no daemon is running for home %s (start one with: peerpath daemon)", home)
		}
		return nil, err
	}
	tok, err := os.ReadFile(home.Path(config.FileToken))
	if err != nil {
		return nil, fmt.Errorf("reading API token: %w", err)
	}
	return api.NewClient(strings.TrimSpace(string(base)), strings.TrimSpace(string(tok))), nil
}

// clientErr makes API errors one readable line.
func clientErr(err error) error {
	if errors.Is(err, api.ErrUnreachable) {
		return fmt.Errorf("the daemon does not answer (%v); is it running?", err)
	}
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return fmt.Errorf("the daemon refused the API token: %s", ae.Message)
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSONCompact writes v as one line of JSON.
func printJSONCompact(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

func timeoutCtx(c *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Context(), d)
}

// query asks the daemon for a value with get (bounded by d) and prints it:
// as JSON with --json, else with text. get takes the client first, so
// method expressions such as (*api.Client).ID fit.
func query[T any](g *globals, c *cobra.Command, d time.Duration, get func(*api.Client, context.Context) (T, error), text func(io.Writer, T) error) error {
	var v T
	if err := g.run(c, d, func(ctx context.Context, cl *api.Client) (err error) {
		v, err = get(cl, ctx)
		if err == nil && !g.json {
			g.learnNames(ctx, cl, v)
		}
		return err
	}); err != nil {
		return err
	}
	if g.json {
		return printJSON(c.OutOrStdout(), v)
	}
	return text(c.OutOrStdout(), v)
}

func idCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Show this node's peer ID and addresses",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 10*time.Second, (*api.Client).ID, func(w io.Writer, id api.Identity) error {
				fmt.Fprintln(w, id.ID)
				for _, a := range id.Addrs {
					fmt.Fprintln(w, "  "+a)
				}
				return nil
			})
		},
	}
}

func peersCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "peers",
		Short: "List connected peers",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 10*time.Second, (*api.Client).Peers, func(w io.Writer, ps []api.Peer) error { return printPeers(w, ps, g.name) })
		},
	}
}

func printPeers(w io.Writer, ps []api.Peer, name func(string) string) error {
	if len(ps) == 0 {
		fmt.Fprintln(w, "no peers connected")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPEER\tLATENCY\tLAN\tADDRESS")
	for _, p := range ps {
		addr := ""
		if len(p.Addrs) > 0 {
			addr = p.Addrs[0]
		}
		lan := ""
		if p.LAN {
			lan = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f ms\t%s\t%s\n", name(p.ID), p.ID, p.LatencyMS, lan, addr)
	}
	return tw.Flush()
}

func connectCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "connect MULTIADDR",
		Short: "Connect to a peer, e.g. /ip4/192.0.2.7/tcp/4101/p2p/12D3Koo…",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := peer.AddrInfoFromString(args[0]); err != nil {
				return fmt.Errorf("bad multiaddr %q: %v (want e.g. /ip4/192.0.2.7/tcp/4101/p2p/PEERID)", args[0], err)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := timeoutCtx(c, 30*time.Second)
			defer cancel()
			if err := cl.Connect(ctx, args[0]); err != nil {
				return clientErr(err)
			}
			if g.json {
				return printJSON(c.OutOrStdout(), map[string]string{"connected": args[0]})
			}
			fmt.Fprintln(c.OutOrStdout(), "connected to", args[0])
			return nil
		},
	}
}

func statusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show uptime, peers, DHT size, reachability and bandwidth",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 10*time.Second, (*api.Client).Status, printStatus)
		},
	}
}

func printStatus(w io.Writer, st api.Status) error {
	net := "public"
	if st.Private {
		net = "private (swarm key)"
	}
	fmt.Fprintf(w, "peer ID       %s\n", st.ID)
	fmt.Fprintf(w, "version       %s\n", st.Version)
	fmt.Fprintf(w, "uptime        %s\n", (time.Duration(st.UptimeSeconds) * time.Second).String())
	fmt.Fprintf(w, "network       %s\n", net)
	fmt.Fprintf(w, "peers         %d\n", st.Peers)
	fmt.Fprintf(w, "routing table %d\n", st.RoutingTable)
	fmt.Fprintf(w, "reachability  %s\n", st.Reachability)
	fmt.Fprintf(w, "announced     %d of %d provider records\n", st.Announced, st.ToAnnounce)
	fmt.Fprintf(w, "bandwidth in  %s total, %s/s\n", humanBytes(float64(st.BytesIn)), humanBytes(st.RateIn))
	fmt.Fprintf(w, "bandwidth out %s total, %s/s\n", humanBytes(float64(st.BytesOut)), humanBytes(st.RateOut))
	fmt.Fprintf(w, "limits        upload %s, download %s\n", rateText(st.MaxUpload), rateText(st.MaxDownload))
	return nil
}

func humanBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", b, units[i])
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}
