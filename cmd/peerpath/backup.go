package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peerpath/peerpath/api"
)

// barProgress draws a create's or restore's progress on bar, with the
// rate since it started.
func barProgress(bar *getBar) func(done, total int64) {
	start := time.Now()
	return func(done, total int64) {
		rate := float64(done) / max(time.Since(start).Seconds(), 0.001)
		bar.update(done, total, rate, 0, done == total)
	}
}

// backupTimeout bounds a backup or restore call.
const backupTimeout = 24 * time.Hour

func backupCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "backup",
		Short: "Back folders up onto other peers (encrypted, erasure-coded) and restore them anywhere from one string",
	}
	c.AddCommand(backupCreateCmd(g), backupListCmd(g), backupStatusCmd(g), backupRestoreCmd(g), backupForgetCmd(g))
	return c
}

func backupCreateCmd(g *globals) *cobra.Command {
	var name string
	var k, n int
	c := &cobra.Command{
		Use:   "create PATH... [--name NAME] [--k 10] [--n 16]",
		Short: "Back up files and folders as one snapshot; prints the capability string that restores it",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			req := api.BackupCreateRequest{Name: name, K: k, N: n}
			for _, p := range args {
				abs, err := filepath.Abs(p)
				if err != nil {
					return err
				}
				req.Paths = append(req.Paths, abs)
			}
			return query(g, c, backupTimeout, func(cl *api.Client, ctx context.Context) (api.BackupCreated, error) {
				if g.json || !isTerminal(os.Stderr) {
					return cl.BackupCreate(ctx, req)
				}
				bar := &getBar{w: os.Stderr, width: terminalWidth()}
				defer bar.finish()
				return cl.BackupCreateProgress(ctx, req, barProgress(bar))
			}, func(w io.Writer, r api.BackupCreated) error {
				_, err := fmt.Fprintf(w, "snapshot %s: %d files, %s (%s new)\ncapability (keep it secret; it alone restores this snapshot):\n%s\n",
					r.Snapshot, r.Files, humanBytes(float64(r.Bytes)), humanBytes(float64(r.Stored)), r.Cap)
				return err
			})
		},
	}
	c.Flags().StringVar(&name, "name", "", "snapshot name (default the first path's name)")
	c.Flags().IntVar(&k, "k", 10, "shares needed to rebuild each chunk")
	c.Flags().IntVar(&n, "n", 16, "shares made of each chunk, each on a different peer")
	return c
}

func backupListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List this node's snapshots",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return query(g, c, 20*time.Second, (*api.Client).BackupList, func(w io.Writer, l []api.BackupSnapshot) error {
				if len(l) == 0 {
					_, err := fmt.Fprintln(w, "no snapshots")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SNAPSHOT\tNAME\tCREATED\tFILES\tSIZE")
				for _, s := range l {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Snapshot, s.Name, s.Created.Local().Format(time.DateTime), s.Files, humanBytes(float64(s.Bytes)))
				}
				return tw.Flush()
			})
		},
	}
}

func backupStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status [SNAPSHOT]",
		Short: "Challenge the holders of a snapshot's shares now: shares alive per file, repairs done (default the newest snapshot)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return query(g, c, 30*time.Minute, func(cl *api.Client, ctx context.Context) (api.BackupStatus, error) {
				id := ""
				if len(args) == 1 {
					id = args[0]
				} else {
					l, err := cl.BackupList(ctx)
					if err != nil {
						return api.BackupStatus{}, err
					}
					if len(l) == 0 {
						return api.BackupStatus{}, fmt.Errorf("no snapshots")
					}
					id = l[0].Snapshot
				}
				return cl.BackupStatus(ctx, id)
			}, func(w io.Writer, s api.BackupStatus) error {
				fmt.Fprintf(w, "snapshot %s (%s): manifest %d shares alive, %d shares repaired in all\n", s.Snapshot, s.Name, s.ManifestHealthy, s.Repairs)
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "FILE\tCHUNKS\tSHARES ALIVE")
				for _, f := range s.Files {
					fmt.Fprintf(tw, "%s\t%d\t%d/%d\n", f.Path, f.Chunks, f.Healthy, f.N)
				}
				return tw.Flush()
			})
		},
	}
}

func backupRestoreCmd(g *globals) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "restore SNAPSHOT|CAP -o DIR",
		Short: "Restore a snapshot (an id of this node, or a capability string on any node) into DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("-o DIR is required")
			}
			abs, err := filepath.Abs(out)
			if err != nil {
				return err
			}
			return query(g, c, backupTimeout, func(cl *api.Client, ctx context.Context) (api.BackupRestored, error) {
				req := api.BackupRestoreRequest{Snapshot: args[0], Output: abs}
				if g.json || !isTerminal(os.Stderr) {
					return cl.BackupRestore(ctx, req)
				}
				bar := &getBar{w: os.Stderr, width: terminalWidth()}
				defer bar.finish()
				return cl.BackupRestoreProgress(ctx, req, barProgress(bar))
			}, func(w io.Writer, r api.BackupRestored) error {
				_, err := fmt.Fprintf(w, "restored %d files (%s) of %s into %s (%d already there)\n", r.Files, humanBytes(float64(r.Bytes)), r.Name, r.Output, r.Skipped)
				return err
			})
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "folder to restore into")
	return c
}

func backupForgetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "forget SNAPSHOT",
		Short: "Forget a snapshot and delete the chunks no other snapshot uses from their holders",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return query(g, c, 10*time.Minute, func(cl *api.Client, ctx context.Context) (api.BackupForgotten, error) {
				return cl.BackupForget(ctx, args[0])
			}, func(w io.Writer, r api.BackupForgotten) error {
				_, err := fmt.Fprintf(w, "forgot snapshot %s\n", r.Snapshot)
				return err
			})
		},
	}
}
