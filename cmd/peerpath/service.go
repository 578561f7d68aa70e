package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

// serviceCmd is "peerpath service": share a local TCP service with chosen
// peers, and reach the services peers share with this node.
func serviceCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "service",
		Short: "Share a local TCP service (a printer, a game server, SSH) with chosen peers, or use one a peer shares",
	}
	c.AddCommand(serviceExposeCmd(g), serviceListCmd(g), serviceRemoveCmd(g), servicePeerCmd(g, true), servicePeerCmd(g, false),
		serviceConnectCmd(g), serviceDisconnectCmd(g), serviceConnectionsCmd(g))
	return c
}

// splitPeers reads --allow: peer ids or contact names (the daemon
// resolves them), separated by commas.
func splitPeers(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func serviceExposeCmd(g *globals) *cobra.Command {
	var allow, price, idle string
	c := &cobra.Command{
		Use:   "expose NAME ADDR --allow PEER[,PEER…]",
		Short: "Offer the TCP service at ADDR (loopback or LAN, e.g. 127.0.0.1:631) under NAME to the allowed peers only",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			peers := splitPeers(allow)
			if len(peers) == 0 {
				return errors.New("--allow is required: the peers (ids or contact names) that may use the service, separated by commas")
			}
			return g.run(c, 30*time.Second, func(ctx context.Context, cl *api.Client) error {
				s, err := cl.ExposeService(ctx, api.ServiceExposeRequest{Name: args[0], Addr: args[1], Allow: peers, PricePerGiB: price, IdleTimeout: idle})
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(c.OutOrStdout(), s)
				}
				fmt.Fprintf(c.OutOrStdout(), "exposing %s (%s) to %d peer(s); they connect with: peerpath service connect %s/%s\n",
					s.Name, s.Addr, len(s.Allow), selfID(ctx, cl), s.Name)
				return nil
			})
		},
	}
	c.Flags().StringVar(&allow, "allow", "", "peers allowed to use the service: peer ids or contact names, separated by commas")
	c.Flags().StringVar(&price, "price-per-gib", "", "credits each GiB through the service costs its users (default free)")
	c.Flags().StringVar(&idle, "idle-timeout", "", "close a connection that moved no byte for this long, e.g. 30m (default never)")
	return c
}

func selfID(ctx context.Context, cl *api.Client) string {
	id, err := cl.ID(ctx)
	if err != nil {
		return "PEER"
	}
	return id.ID
}

func serviceListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the services this node exposes, with connections and bytes per peer",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).Services, func(w io.Writer, ss []api.Service) error {
				if len(ss) == 0 {
					_, err := fmt.Fprintln(w, "no services exposed (peerpath service expose NAME ADDR --allow PEER)")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVICE\tADDR\tPRICE/GiB\tPEER\tALLOWED\tCONNS\tIN\tOUT")
				for _, s := range ss {
					if len(s.Peers) == 0 {
						fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\n", s.Name, s.Addr, s.PricePerGiB)
					}
					for _, p := range s.Peers {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%d\t%s\t%s\n", s.Name, s.Addr, s.PricePerGiB, g.name(p.Peer), p.Allowed, p.Conns,
							humanBytes(float64(p.BytesIn)), humanBytes(float64(p.BytesOut)))
					}
				}
				return tw.Flush()
			})
		},
	}
}

func serviceRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Stop exposing a service; its open connections close at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return g.run(c, 20*time.Second, func(ctx context.Context, cl *api.Client) error {
				r, err := cl.RemoveService(ctx, args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(c.OutOrStdout(), r)
				}
				_, err = fmt.Fprintf(c.OutOrStdout(), "removed %s\n", r.Removed)
				return err
			})
		},
	}
}

// servicePeerCmd is "service allow NAME PEER" or "service deny NAME PEER".
func servicePeerCmd(g *globals, allow bool) *cobra.Command {
	use, short := "allow NAME PEER", "Let PEER use the service NAME"
	if !allow {
		use, short = "deny NAME PEER", "Stop PEER from using the service NAME; its open connections close at once"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return g.run(c, 20*time.Second, func(ctx context.Context, cl *api.Client) error {
				if allow {
					s, err := cl.AllowService(ctx, args[0], args[1])
					if err != nil {
						return err
					}
					if g.json {
						return printJSON(c.OutOrStdout(), s)
					}
					_, err = fmt.Fprintf(c.OutOrStdout(), "%s may use %s (%d peer(s) allowed)\n", args[1], s.Name, len(s.Allow))
					return err
				}
				d, err := cl.DenyService(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(c.OutOrStdout(), d)
				}
				_, err = fmt.Fprintf(c.OutOrStdout(), "%s may no longer use %s; %d open connection(s) closed\n", args[1], d.Service.Name, d.Closed)
				return err
			})
		},
	}
}

// servicesCmd is "peerpath services PEER": what PEER offers to this node.
func servicesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "services PEER",
		Short: "List the services PEER offers to this node",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			get := func(cl *api.Client, ctx context.Context) (api.ServiceOffers, error) {
				return cl.ServicesOf(ctx, args[0])
			}
			return query(g, c, 30*time.Second, get, func(w io.Writer, o api.ServiceOffers) error {
				if len(o.Services) == 0 {
					_, err := fmt.Fprintf(w, "%s offers no service to this node\n", g.name(o.Peer))
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVICE\tPRICE/GiB\tCONNECT WITH")
				for _, s := range o.Services {
					fmt.Fprintf(tw, "%s\t%s\tpeerpath service connect %s/%s\n", s.Name, s.PricePerGiB, o.Peer, s.Name)
				}
				return tw.Flush()
			})
		},
	}
}

func serviceConnectCmd(g *globals) *cobra.Command {
	var listen string
	c := &cobra.Command{
		Use:   "connect PEER/NAME [--listen 127.0.0.1:PORT]",
		Short: "Forward a local port (a free one unless --listen) to PEER's service NAME, through the daemon",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, name, ok := strings.Cut(args[0], "/")
			if !ok || p == "" || name == "" {
				return fmt.Errorf("want PEER/NAME, got %q", args[0])
			}
			return g.run(c, 30*time.Second, func(ctx context.Context, cl *api.Client) error {
				f, err := cl.ConnectService(ctx, api.ForwardRequest{Peer: p, Service: name, Listen: listen})
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(c.OutOrStdout(), f)
				}
				g.learnNames(ctx, cl, f)
				_, err = fmt.Fprintf(c.OutOrStdout(), "%s/%s is at %s (until: peerpath service disconnect %s)\n", g.name(f.Peer), f.Service, f.Listen, f.Listen)
				return err
			})
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "local address to listen on, 127.0.0.1:PORT (default: a free port)")
	return c
}

func serviceDisconnectCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "disconnect 127.0.0.1:PORT|PEER/NAME",
		Short: "Close a forward (by its local address, or every forward to PEER/NAME) and its connections",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return g.run(c, 20*time.Second, func(ctx context.Context, cl *api.Client) error {
				r, err := cl.DisconnectService(ctx, args[0])
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(c.OutOrStdout(), r)
				}
				g.learnNames(ctx, cl, r)
				for _, f := range r.Closed {
					fmt.Fprintf(c.OutOrStdout(), "closed %s (%s/%s)\n", f.Listen, g.name(f.Peer), f.Service)
				}
				return nil
			})
		},
	}
}

func serviceConnectionsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "connections",
		Short: "List the forwards to peers' services, with connections and bytes",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).Forwards, func(w io.Writer, fs []api.Forward) error {
				if len(fs) == 0 {
					_, err := fmt.Fprintln(w, "no forwards (peerpath service connect PEER/NAME)")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "LISTEN\tPEER\tSERVICE\tCONNS\tIN\tOUT\tLAST ERROR")
				for _, f := range fs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", f.Listen, g.name(f.Peer), f.Service, f.Conns,
						humanBytes(float64(f.BytesIn)), humanBytes(float64(f.BytesOut)), f.LastError)
				}
				return tw.Flush()
			})
		},
	}
}
