package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

func msgCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "msg",
		Short: "End-to-end encrypted messages, delivered through mailboxes when the recipient is offline",
	}
	c.AddCommand(msgSendCmd(g), msgListCmd(g, ""), msgListCmd(g, "requests"), msgReadCmd(g))
	return c
}

func msgSendCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "send NAME|PEERID|group:NAME TEXT...",
		Short: "Send a message (the words of TEXT are joined by spaces)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			text := strings.Join(args[1:], " ")
			return query(g, c, 60*time.Second, func(cl *api.Client, ctx context.Context) (api.MsgSent, error) {
				return cl.MsgSend(ctx, args[0], text)
			}, func(w io.Writer, s api.MsgSent) error {
				_, err := fmt.Fprintf(w, "%s %s\n", s.ID, s.State)
				return err
			})
		},
	}
}

// msgListCmd is `msg list`, or (only "requests") `msg requests`: the
// messages of non-contacts never written to, held apart.
func msgListCmd(g *globals, only string) *cobra.Command {
	folder := only
	limit := 0
	use, short := "list [NAME|PEERID|group:NAME]", "List messages, oldest first; a non-contact's are marked [request] (--json: one object a line)"
	if only != "" {
		use, short = "requests [NAME|PEERID]", "List message requests: messages from non-contacts you never wrote to (add the sender as a contact to move them to the inbox; 'peerpath block' refuses its messages)"
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			with := ""
			if len(args) == 1 {
				with = args[0]
			}
			var ms []api.Message
			if err := g.run(c, 30*time.Second, func(ctx context.Context, cl *api.Client) (err error) {
				ms, err = cl.MsgListN(ctx, with, folder, limit)
				return err
			}); err != nil {
				return err
			}
			w := c.OutOrStdout()
			if g.json {
				for _, m := range ms {
					if err := printJSONCompact(w, m); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tFROM\tTO\tSTATE\tFOLDER\tTEXT")
			for _, m := range ms {
				t, _ := time.Parse(time.RFC3339Nano, m.Time)
				text := m.Text
				if m.Folder == "requests" {
					text = "[request] " + text
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Local().Format("2006-01-02 15:04:05"), g.party(m.From), g.party(m.To), m.State, m.Folder, text)
			}
			return tw.Flush()
		},
	}
	if only == "" {
		c.Flags().StringVar(&folder, "folder", "", "only this folder: inbox, or requests (messages from non-contacts)")
	}
	c.Flags().IntVar(&limit, "limit", 0, "only the newest N messages of those listed (after the folder is chosen); 0: up to 1000")
	return c
}

// party is how a table shows a message's party: a peer by name
// ([globals.name]); group:NAME stays.
func (g *globals) party(id string) string {
	if strings.HasPrefix(id, "group:") {
		return id
	}
	return g.name(id)
}

func msgReadCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "read NAME|PEERID|group:NAME",
		Short: "Mark a conversation read (its senders are told)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return query(g, c, 30*time.Second, func(cl *api.Client, ctx context.Context) (api.MsgRead, error) {
				return cl.MsgRead(ctx, args[0])
			}, func(w io.Writer, r api.MsgRead) error {
				_, err := fmt.Fprintf(w, "%d messages marked read\n", r.Marked)
				return err
			})
		},
	}
}

func groupCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "group",
		Short: "Message groups (up to 100 members)",
	}
	var members string
	create := &cobra.Command{
		Use:   "create NAME --members A,B,C",
		Short: "Create a group; members are contacts' names or peer IDs",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var list []string
			for _, m := range strings.Split(members, ",") {
				if m = strings.TrimSpace(m); m != "" {
					list = append(list, m)
				}
			}
			return query(g, c, 120*time.Second, func(cl *api.Client, ctx context.Context) (api.Group, error) {
				return cl.GroupCreate(ctx, args[0], list)
			}, printGroup)
		},
	}
	create.Flags().StringVar(&members, "members", "", "comma-separated members (names or peer IDs)")
	create.MarkFlagRequired("members")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the groups this node belongs to",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 30*time.Second, (*api.Client).Groups, func(w io.Writer, gs []api.Group) error {
				for _, gr := range gs {
					printGroup(w, gr)
				}
				return nil
			})
		},
	}
	remove := &cobra.Command{
		Use:   "remove NAME MEMBER",
		Short: "Remove a member from a group you created; the group is rekeyed so it cannot read later messages",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return query(g, c, 120*time.Second, func(cl *api.Client, ctx context.Context) (api.Group, error) {
				return cl.GroupRemove(ctx, args[0], args[1])
			}, printGroup)
		},
	}
	c.AddCommand(create, list, remove)
	return c
}

func printGroup(w io.Writer, gr api.Group) error {
	_, err := fmt.Fprintf(w, "%s (epoch %d, %d members): %s\n", gr.Name, gr.Epoch, len(gr.Members), strings.Join(gr.Members, ", "))
	return err
}
