package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

func nameCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "name",
		Short: "Show this node's display name and device type",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 10*time.Second, (*api.Client).Name, printProfile)
		},
	}
	var device string
	set := &cobra.Command{
		Use:   `set NAME [--device laptop|desktop|phone|tablet|server|other]`,
		Short: "Set this node's display name (and device type), shown to the peers it meets",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return query(g, c, 10*time.Second, func(cl *api.Client, ctx context.Context) (api.Profile, error) {
				return cl.SetName(ctx, api.ProfileRequest{Name: args[0], Device: device})
			}, printProfile)
		},
	}
	set.Flags().StringVar(&device, "device", "", "device type: laptop, desktop, phone, tablet, server or other")
	c.AddCommand(set)
	return c
}

func printProfile(w io.Writer, p api.Profile) error {
	name := p.Name
	if name == "" {
		name = "(no name set: peerpath name set NAME)"
	}
	fmt.Fprintf(w, "name      %s\n", name)
	if p.Device != "" {
		fmt.Fprintf(w, "device    %s\n", p.Device)
	}
	fmt.Fprintf(w, "peer ID   %s\n", p.ID)
	if p.Invisible {
		fmt.Fprintln(w, "presence  invisible (contacts see this node offline)")
	}
	return nil
}

func presenceCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:       "presence visible|invisible",
		Short:     "Show this node online to its contacts, or not",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"visible", "invisible"},
		RunE: func(c *cobra.Command, args []string) error {
			if args[0] != "visible" && args[0] != "invisible" {
				return fmt.Errorf("want visible or invisible, not %q", args[0])
			}
			return query(g, c, 10*time.Second, func(cl *api.Client, ctx context.Context) (api.Profile, error) {
				return cl.SetPresence(ctx, api.PresenceRequest{Invisible: args[0] == "invisible"})
			}, printProfile)
		},
	}
}

func contactsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "contacts",
		Short: "List contacts: name, online, last seen (--json: one {\"id\",\"name\",\"online\",\"last_seen\"} a line)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var cs []api.Contact
			if err := g.run(c, 10*time.Second, func(ctx context.Context, cl *api.Client) (err error) {
				cs, err = cl.Contacts(ctx)
				return err
			}); err != nil {
				return err
			}
			w := c.OutOrStdout()
			if g.json {
				for _, x := range cs {
					printJSONCompact(w, x)
				}
				return nil
			}
			if len(cs) == 0 {
				fmt.Fprintln(w, "no contacts (add one: peerpath contacts add PEERID --name NAME)")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tLAST SEEN\tTHEIR OWN NAME (UNVERIFIED)\tPEER")
			for _, x := range cs {
				st, seen := "offline", "never"
				if x.Online {
					st = "online"
				}
				if x.LastSeen != nil {
					seen = x.LastSeen.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", x.Name, st, seen, x.Suggested, x.ID)
			}
			return tw.Flush()
		},
	}
	var name string
	add := &cobra.Command{
		Use:   "add PEERID --name NAME",
		Short: "Add a contact under a name only this node sets (a petname), or rename one",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if name == "" {
				return errors.New("--name is required")
			}
			return query(g, c, 10*time.Second, func(cl *api.Client, ctx context.Context) (api.Contact, error) {
				return cl.AddContact(ctx, api.ContactRequest{ID: args[0], Name: name})
			}, func(w io.Writer, x api.Contact) error {
				_, err := fmt.Fprintf(w, "%s is now a contact: %s\n", x.ID, x.Name)
				return err
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "the contact's name (yours to choose)")
	remove := &cobra.Command{
		Use:   "remove NAME|PEERID",
		Short: "Remove a contact",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return query(g, c, 10*time.Second, func(cl *api.Client, ctx context.Context) (api.Contact, error) {
				return cl.RemoveContact(ctx, args[0])
			}, func(w io.Writer, x api.Contact) error {
				_, err := fmt.Fprintf(w, "removed %s (%s)\n", x.Name, x.ID)
				return err
			})
		},
	}
	c.AddCommand(add, remove)
	return c
}

func neighboursCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "neighbours",
		Aliases: []string{"neighbors"},
		Short:   "List the peers on the LAN: name, device type, id, contact",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 10*time.Second, (*api.Client).Neighbours, func(w io.Writer, ns []api.Neighbour) error {
				if len(ns) == 0 {
					fmt.Fprintln(w, "no neighbours on the LAN")
					return nil
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tDEVICE\tCONTACT\tPEER")
				for _, n := range ns {
					name := n.Name
					if name != "" {
						name += " (unverified)"
					}
					contact := ""
					if n.Contact {
						contact = n.ContactName
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, n.Device, contact, n.ID)
				}
				return tw.Flush()
			})
		},
	}
}

func sendCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "send NAME|PEERID FILE...",
		Short: "Offer files to a peer; it accepts by its receive policy (an offline peer gets them when it comes online)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			paths := make([]string, 0, len(args)-1)
			for _, p := range args[1:] {
				abs, err := filepath.Abs(p)
				if err != nil {
					return err
				}
				paths = append(paths, abs)
			}
			var res api.FileSend
			if err := g.run(c, 3*time.Minute, func(ctx context.Context, cl *api.Client) (err error) {
				res, err = cl.SendFiles(ctx, api.FileSendRequest{To: args[0], Paths: paths})
				return err
			}); err != nil {
				return err
			}
			w := c.OutOrStdout()
			if g.json {
				printJSONCompact(w, res)
			} else {
				switch res.State {
				case "accepted":
					fmt.Fprintf(w, "%s accepted %s\n", res.ToLabel, fileList(res.Files))
				case "queued":
					fmt.Fprintf(w, "%s is offline: %s queued, sent when it comes online (peerpath sends)\n", res.ToLabel, fileList(res.Files))
				case "pending":
					fmt.Fprintf(w, "%s: %s waiting for its owner to accept (peerpath sends shows the answer)\n", res.ToLabel, fileList(res.Files))
				}
			}
			if res.State == "refused" {
				return fmt.Errorf("%s refused the files: %s", res.ToLabel, res.Reason)
			}
			return nil
		},
	}
	return c
}

func fileList(fs []api.SentFile) string {
	names := make([]string, 0, len(fs))
	for _, f := range fs {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

func sendsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "sends",
		Short: "List the files this node sent or queued, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 10*time.Second, (*api.Client).Sends, func(w io.Writer, ss []api.FileSend) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TO\tSTATE\tFILES\tWHEN\tREASON")
				for _, s := range ss {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.name(s.To), s.State, fileList(s.Files), s.Created.Local().Format("2006-01-02 15:04"), s.Reason)
				}
				return tw.Flush()
			})
		},
	}
}

func receiveCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "receive",
		Short: "List the files peers offered this node, newest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 10*time.Second, (*api.Client).Received, func(w io.Writer, rs []api.FileOffer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "FROM\tACCEPTED\tFILES\tWHEN")
				for _, r := range rs {
					fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", g.name(r.From), r.Accepted, fileList(r.Files), r.Time.Local().Format("2006-01-02 15:04"))
				}
				return tw.Flush()
			})
		},
	}
	policy := &cobra.Command{
		Use:   "policy [contacts|everyone-for DURATION|nobody]",
		Short: "Show or set who may send this node files (default: contacts)",
		Args:  cobra.RangeArgs(0, 2),
		RunE: func(c *cobra.Command, args []string) error {
			var req api.ReceivePolicy
			switch {
			case len(args) == 0:
				return query(g, c, 10*time.Second, (*api.Client).ReceivePolicy, printPolicy)
			case args[0] == "everyone-for" && len(args) == 2:
				req = api.ReceivePolicy{Policy: "everyone", For: args[1]}
			case (args[0] == "contacts" || args[0] == "nobody") && len(args) == 1:
				req = api.ReceivePolicy{Policy: args[0]}
			default:
				return fmt.Errorf("want contacts, everyone-for DURATION (e.g. everyone-for 10m) or nobody")
			}
			return query(g, c, 10*time.Second, func(cl *api.Client, ctx context.Context) (api.ReceivePolicy, error) {
				return cl.SetReceivePolicy(ctx, req)
			}, printPolicy)
		},
	}
	c.AddCommand(policy, receivePendingCmd(g), receiveAnswerCmd(g, "accept"), receiveAnswerCmd(g, "decline"))
	return c
}

// receivePendingCmd lists the offers waiting for this node's owner: with
// --json, one {"id","from","from_label","name","files","time","expires"}
// a line.
func receivePendingCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pending",
		Short: "List the offers waiting for you to accept or decline them (peerpath receive accept|decline ID)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var ps []api.PendingOffer
			if err := g.run(c, 10*time.Second, func(ctx context.Context, cl *api.Client) (err error) {
				ps, err = cl.PendingOffers(ctx)
				return err
			}); err != nil {
				return err
			}
			w := c.OutOrStdout()
			if g.json {
				for _, p := range ps {
					printJSONCompact(w, p)
				}
				return nil
			}
			if len(ps) == 0 {
				fmt.Fprintln(w, "no offers waiting")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFROM\tFILES\tSIZE\tEXPIRES")
			for _, p := range ps {
				var size int64
				for _, f := range p.Files {
					size += f.Size
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.FromLabel, fileList(p.Files), humanBytes(float64(size)), p.Expires.Local().Format("15:04:05"))
			}
			return tw.Flush()
		},
	}
}

// receiveAnswerCmd accepts or declines a waiting offer.
func receiveAnswerCmd(g *globals, verb string) *cobra.Command {
	short := "Accept a waiting offer: its files download into the downloads folder, verified"
	if verb == "decline" {
		short = "Decline a waiting offer; the sender is told"
	}
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var p api.PendingOffer
			if err := g.run(c, 30*time.Second, func(ctx context.Context, cl *api.Client) (err error) {
				if verb == "accept" {
					p, err = cl.AcceptOffer(ctx, args[0])
				} else {
					p, err = cl.DeclineOffer(ctx, args[0])
				}
				return err
			}); err != nil {
				return err
			}
			w := c.OutOrStdout()
			if g.json {
				return printJSONCompact(w, p)
			}
			fmt.Fprintf(w, "%sd %s from %s\n", verb, fileList(p.Files), p.FromLabel)
			return nil
		},
	}
}

func printPolicy(w io.Writer, p api.ReceivePolicy) error {
	switch {
	case p.Policy == "everyone" && p.Until != nil:
		fmt.Fprintf(w, "accepting files from everyone until %s, then from contacts only\n", p.Until.Local().Format("15:04:05"))
	case p.Policy == "nobody":
		fmt.Fprintln(w, "accepting files from nobody")
	default:
		fmt.Fprintln(w, "accepting files from contacts only")
	}
	return nil
}
