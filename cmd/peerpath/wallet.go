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

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

func walletCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "wallet [ACCOUNT]",
		Short: "Show a credits balance: yours, or any account's",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			get := func(cl *api.Client, ctx context.Context) (api.Balance, error) { return cl.Balance(ctx, optArg(args)) }
			return query(g, c, 20*time.Second, get, func(w io.Writer, b api.Balance) error {
				_, err := fmt.Fprintf(w, "%s credits  (%s)\n", b.Balance, b.Account)
				return err
			})
		},
	}
	var memo, ref, id string
	send := &cobra.Command{
		Use:   "send ACCOUNT AMOUNT",
		Short: "Pay credits to an account (a peer ID); AMOUNT in credits, e.g. 2.5",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := timeoutCtx(c, 40*time.Second)
			defer cancel()
			rc, err := cl.Send(ctx, api.SendRequest{To: args[0], Amount: args[1], Memo: memo, Ref: ref, ID: id})
			if err != nil {
				return clientErr(err)
			}
			if g.json {
				return printJSON(c.OutOrStdout(), rc)
			}
			fmt.Fprintf(c.OutOrStdout(), "sent %s credits to %s (fee %s), transfer %s\n", rc.Amount, args[0], rc.Fee, rc.ID)
			if rc.Replay {
				fmt.Fprintln(c.OutOrStdout(), "(this transfer id had already applied; nothing was paid twice)")
			}
			return nil
		},
	}
	send.Flags().StringVar(&memo, "memo", "", "a note for the receiver")
	send.Flags().StringVar(&ref, "ref", "", "a reference (job id, listing id)")
	send.Flags().StringVar(&id, "id", "", "transfer id, to retry a transfer safely (default: a new one)")
	var limit int
	history := &cobra.Command{
		Use:   "history [ACCOUNT]",
		Short: "List an account's transfers, newest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			get := func(cl *api.Client, ctx context.Context) ([]api.Transfer, error) {
				return cl.History(ctx, optArg(args), limit)
			}
			return query(g, c, 20*time.Second, get, func(w io.Writer, ts []api.Transfer) error { return printHistory(w, ts, g.name) })
		},
	}
	history.Flags().IntVar(&limit, "limit", 50, "at most this many transfers")
	c.AddCommand(send, history)
	return c
}

func printHistory(w io.Writer, ts []api.Transfer, name func(string) string) error {
	if len(ts) == 0 {
		fmt.Fprintln(w, "no transfers")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tFROM\tTO\tAMOUNT\tFEE\tMEMO")
	for _, t := range ts {
		// The operator fee the payer paid on top of the amount ("-": none).
		fee := "-"
		if t.Fee != "" {
			fee = t.Fee.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", time.Unix(0, t.Time).Format(time.DateTime), t.Kind, name(t.From), name(t.To), t.Amount, fee, t.Memo)
	}
	return tw.Flush()
}

// printLedgerStatus shows the ledger's leader and voters by name (name:
// [globals.name]); --json keeps the ids.
func printLedgerStatus(w io.Writer, st api.LedgerStatus, name func(string) string) error {
	if len(st.Voters) == 0 && st.Note != "" {
		_, err := fmt.Fprintf(w, "no ledger: %s\n", st.Note)
		return err
	}
	leader := "none"
	if st.Leader != "" {
		leader = name(st.Leader)
	}
	voters := make([]string, len(st.Voters))
	for i, v := range st.Voters {
		voters[i] = name(v)
	}
	_, err := fmt.Fprintf(w, "leader        %s\nvoters        %s\ncommit index  %d\n", leader, strings.Join(voters, ", "), st.CommitIndex)
	return err
}

// optArg returns the first argument, or "" when there is none.
func optArg(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

func short(id string) string {
	if len(id) > 16 {
		return id[:8] + "…" + id[len(id)-6:]
	}
	return id
}

func ledgerCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "ledger", Short: "The replicated credits ledger"}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the ledger's leader, voters and commit index",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).LedgerStatus, func(w io.Writer, st api.LedgerStatus) error {
				return printLedgerStatus(w, st, g.name)
			})
		},
	}
	var voters []string
	var genesis string
	create := &cobra.Command{
		Use:   "create --voters ID,ID,ID --genesis FILE",
		Short: "Create a new ledger (run against one of the voters, all of them running); each other voter must accept this node's invitation",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if len(voters) == 0 || genesis == "" {
				return errors.New("--voters and --genesis are required")
			}
			data, err := os.ReadFile(genesis)
			if err != nil {
				return err
			}
			if !json.Valid(data) {
				return fmt.Errorf("%s is not JSON; want {\"PEERID\": credits, …}", genesis)
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			ctx, cancel := timeoutCtx(c, 60*time.Second)
			defer cancel()
			if err := cl.LedgerCreate(ctx, api.LedgerCreateRequest{Voters: voters, Genesis: data}); err != nil {
				return clientErr(err)
			}
			if g.json {
				return printJSON(c.OutOrStdout(), map[string]bool{"created": true})
			}
			fmt.Fprintf(c.OutOrStdout(), "ledger created with %d voters\n", len(voters))
			return nil
		},
	}
	create.Flags().StringSliceVar(&voters, "voters", nil, "peer IDs of the voters, comma-separated (must include this node)")
	create.Flags().StringVar(&genesis, "genesis", "", `JSON file {"PEERID": credits, …}; its total is the supply`)
	voterCmd := func(use, short, method string) *cobra.Command {
		return &cobra.Command{
			Use:   use + " PEERID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				cl, err := g.client()
				if err != nil {
					return err
				}
				ctx, cancel := timeoutCtx(c, 60*time.Second)
				defer cancel()
				if method == http.MethodDelete {
					_, err = cl.RemoveVoter(ctx, args[0])
				} else {
					_, err = cl.AddVoter(ctx, args[0])
				}
				if err != nil {
					return clientErr(err)
				}
				fmt.Fprintln(c.OutOrStdout(), "done")
				return nil
			},
		}
	}
	c.AddCommand(status, create,
		voterCmd("add-voter", "Add a voter (a running node started with --ledger-voter that trusts this node: --ledger-voters or --bootstrap)", "POST"),
		voterCmd("remove-voter", "Remove a voter", "DELETE"))
	return c
}
